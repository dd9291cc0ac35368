"""Settings of the CRM front, inherited by each serving component with its own env prefix."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AuthMode = Literal["none", "api_key", "jwt"]


class FrontSettings(BaseSettings):
    """What the ``/score-lead`` front needs; components subclass it and set their env prefix."""

    model_config = SettingsConfigDict(env_prefix="TRANSFORMER_", extra="ignore")

    model_name: str = "lead-scoring"
    """Name of the V2 model the predictor serves (and the CRM response reports)."""
    max_leads: int = Field(default=100, ge=1, le=10_000)
    """Most leads accepted in one ``/score-lead`` call; more is a 422."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest accepted request body in bytes; larger is a 413."""
    auth_mode: AuthMode = "none"
    """``none`` (local default), ``api_key`` (header ``X-API-Key``) or ``jwt`` (``Authorization: Bearer``)."""
    api_keys: dict[str, str] = Field(default_factory=dict)
    """API key -> client name (JSON in the environment), used when ``auth_mode=api_key``."""
    jwt_key: str = ""
    """HMAC secret or PEM public key that verifies bearer tokens when ``auth_mode=jwt``."""
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    """Accepted JWT signature algorithms."""
    jwt_audience: str | None = None
    """Required ``aud`` claim, if set."""
    jwt_issuer: str | None = None
    """Required ``iss`` claim, if set."""
    rate_limit: str = "100/second"
    """Per-client limit in `limits` notation (e.g. ``100/second;3000/minute``); empty disables it."""
    rate_limit_storage: str = "memory://"
    """`limits` storage URI: ``memory://`` locally, ``redis://host:6379/0`` when replicas share a budget."""
    rate_limit_timeout_seconds: float = Field(default=0.25, gt=0, le=10)
    """Bound on one rate-limit check against the storage (connect, read, and the whole call); past it the
    request is allowed (fail open) and ``leadscore_rate_limit_storage_errors_total`` counts it."""
    revision: str = ""
    """Revision label on metrics; empty: Knative's ``K_REVISION`` when set, else ``default``."""
    pii_salt: str = Field(
        default="leadscore-local-salt", validation_alias=AliasChoices("pii_salt", "LEADSCORE_PII_SALT")
    )
    """Salt of the lead-id hash sent downstream (``LEADSCORE_PII_SALT``, shared with the monitors)."""

    @model_validator(mode="after")
    def _default_revision(self) -> FrontSettings:
        if not self.revision:
            self.revision = os.environ.get("K_REVISION", "") or "default"
        return self
