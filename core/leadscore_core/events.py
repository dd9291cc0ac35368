"""The events the monitors emit (drift, retrain, outcome) and the salted lead key.

The logger's own events (request/response CloudEvents) and the V2 bodies they carry live in
:mod:`leadscore_core.wire`; ``REQUEST_TYPE``, ``RESPONSE_TYPE`` and ``LOGGER_EXTENSIONS`` are importable
from here too for existing callers.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Literal

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
    "OutcomeCount",
    "OutcomeReportEvent",
    "RetrainRequest",
    "VersionOutcome",
    "lead_key",
]

DRIFT_TYPE = "org.kubeflow.serving.inference.drift"
OUTCOME_TYPE = "ai.leadscore.outcome"
"""``ce-type`` of :class:`OutcomeReportEvent` (the outcome job -> the outcome-metrics consumer)."""
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


class VersionOutcome(BaseModel):
    """The outcome join's figures for the leads one model version scored (their latest score)."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid")
    model_version: str = Field(min_length=1)
    joined: int = Field(ge=0)
    """Logged leads of this version with a CRM outcome."""
    conversions: int = Field(ge=0)
    auc: float | None = Field(None, ge=0, le=1)
    """Realised ROC-AUC (None with one class only)."""
    conversion_rate: float | None = Field(None, ge=0, le=1)
    conversion_by_tier: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Tier -> conversion rate of the joined leads in that tier."""
    conversion_drop: float | None = Field(None, le=1)
    """1 - later / earlier half's conversion rate (positive = fewer conversions)."""


class OutcomeCount(BaseModel):
    """Settled outcomes of one (model version, tier, converted) cell, over the whole logged period."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid")
    model_version: str = Field(min_length=1)
    tier: str = Field(min_length=1)
    converted: bool
    leads: int = Field(ge=0)


class OutcomeReportEvent(BaseModel):
    """Body of an ``ai.leadscore.outcome`` CloudEvent: one run of the outcome join, as the monitors export it.

    ``counts`` is a snapshot over the whole log (not a delta): a lost or repeated report loses or adds
    nothing, the next one carries the same totals. A lead counts once it is settled: converted, or scored
    at least ``settle_days`` before ``computed_at`` without converting."""

    model_config = ConfigDict(extra="forbid")
    computed_at: datetime
    settle_days: float = Field(ge=0)
    business_signal: bool
    versions: list[VersionOutcome]
    counts: list[OutcomeCount]
    conversion_drop_max: float | None = Field(None, gt=0, lt=1)
    """The business-signal threshold the job applied (``DriftThresholds.conversion_drop_max`` in its pod):
    exported next to each version's drop so that the alert ``LeadConversionDrop`` compares with the same number.
    None from a job older than this field (the alert then falls back to the core default)."""
