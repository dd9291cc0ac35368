"""Settings of the kserve transformer process (env prefix ``TRANSFORMER_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadscore_front.settings import FrontSettings


class TransformerSettings(FrontSettings):
    """The kserve transformer process (env prefix ``TRANSFORMER_``); KServe's ``--predictor_host`` and
    ``--http_port`` arguments override the matching fields."""

    model_config = SettingsConfigDict(env_prefix="TRANSFORMER_", extra="ignore")

    predictor_host: str = "127.0.0.1:8080"
    """``host:port`` of the MLServer predictor (KServe passes ``--predictor_host``)."""
    predictor_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of one V2 call to the predictor."""
    load_timeout_seconds: float = Field(default=120.0, gt=0)
    """How long ``load()`` waits for the predictor to publish its feature contract (a hard bound: each
    attempt's own timeout is cut to what is left)."""
    health_interval_seconds: float = Field(default=2.0, gt=0)
    """Period of the background probe of the predictor's model readiness."""
    health_timeout_seconds: float = Field(default=1.0, gt=0)
    """Timeout of one readiness probe of the predictor."""
    health_failures: int = Field(default=2, ge=1)
    """Consecutive failed probes after which the transformer reports not ready (one success: ready again)."""
    host: str = "127.0.0.1"
    """Bind address (``0.0.0.0`` in a container)."""
    http_port: int = 8080
    """HTTP port of ``/score-lead``, ``/metrics`` and kserve's V1/V2 routes."""
    access_log: bool = False
    """Write one uvicorn access-log line per request (costs ~25% throughput on one core)."""
