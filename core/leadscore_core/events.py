"""Event schemas shared by the serving logger, the Knative consumers and the workflows.

The KServe payload logger sends binary-mode CloudEvents 1.0: ``ce-id`` is shared by a request and its
response (the join key), ``ce-source`` is the agent URL, and the extensions ``inferenceservicename``,
``namespace``, ``component`` and ``endpoint`` (default/canary) say where it came from; the body is the
V2 (or V1) JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
DRIFT_TYPE = "org.kubeflow.serving.inference.drift"
OUTCOME_TYPE = "ai.leadscore.outcome"
RETRAIN_TYPE = "ai.leadscore.retrain.requested"
LOGGER_EXTENSIONS = ("inferenceservicename", "namespace", "component", "endpoint")

# V2 tensor names the predictor understands and answers with
V2_INPUT = "features"
V2_OUTPUTS = ("probability", "margin", "tier", "contributions")


def lead_key(lead_id: str, salt: str) -> str:
    """Salted hash of a lead id: the only lead identifier that leaves the serving pod."""
    return hmac.new(salt.encode(), str(lead_id).encode(), hashlib.sha256).hexdigest()[:32]


class V2Tensor(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class V2Request(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    inputs: list[V2Tensor]
    parameters: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] | None = None


class V2Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())
    id: str | None = None
    model_name: str
    model_version: str | None = None
    outputs: list[V2Tensor]
    parameters: dict[str, Any] | None = None


class DriftEvent(BaseModel):
    """Body of a ``drift`` CloudEvent replied to the broker when a threshold is crossed."""

    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    model_version: str
    window_start: datetime
    window_end: datetime
    n_events: int
    drifted_features: list[str]
    psi: dict[str, float]
    kl: dict[str, float] = Field(default_factory=dict)
    p_values: dict[str, float] = Field(default_factory=dict)
    score_psi: float | None = None
    threshold: float


class RetrainRequest(BaseModel):
    """Why a retrain was asked for; deduplicated with a cooldown by the trigger."""

    reason: Literal["drift", "business", "manual", "schedule"]
    detail: str
    requested_at: datetime
    source_event_id: str | None = None
