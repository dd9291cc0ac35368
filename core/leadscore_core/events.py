"""The events the monitors emit (drift, retrain, outcome) and the salted lead key.

The logger's own events (request/response CloudEvents) and the V2 bodies they carry live in
:mod:`leadscore_core.wire`; ``REQUEST_TYPE``, ``RESPONSE_TYPE`` and ``LOGGER_EXTENSIONS`` are importable
from here too for existing callers.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from leadscore_core.wire import LOGGER_EXTENSIONS, REQUEST_TYPE, RESPONSE_TYPE

__all__ = [
    "DRIFT_TYPE",
    "LOGGER_EXTENSIONS",
    "OUTCOME_TYPE",
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "RETRAIN_TYPE",
    "DriftEvent",
    "RetrainRequest",
    "lead_key",
]

DRIFT_TYPE = "org.kubeflow.serving.inference.drift"
OUTCOME_TYPE = "ai.leadscore.outcome"
RETRAIN_TYPE = "ai.leadscore.retrain.requested"


def lead_key(lead_id: str, salt: str) -> str:
    """Salted hash of a lead id: the only lead identifier that leaves the serving pod."""
    return hmac.new(salt.encode(), str(lead_id).encode(), hashlib.sha256).hexdigest()[:32]


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
