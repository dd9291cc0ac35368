"""Settings of progressive delivery (``LEADSCORE_DELIVERY_*``), read once per command."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class DeliverySettings(BaseSettings):
    """Where published models live, which InferenceService serves them, where Prometheus answers."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_DELIVERY_", extra="ignore")

    model_store: str = ""
    """Root URI of the immutable per-version model store: a local path, ``file://`` or ``s3://bucket/prefix``
    (``LEADSCORE_DELIVERY_MODEL_STORE``). Versions are published to ``<model_store>/<model name>/v<N>``.
    Empty: ``$LEADSCORE_HOME/model-store``."""
    base_manifest: Path = REPO_ROOT / "manifests" / "serving" / "serving.yaml"
    """Manifest holding the InferenceService ``leadscore canary render`` pins to a version (a repository
    checkout's; generated from charts/leadscore by ``make manifests``)."""
    namespace: str = "leadscore"
    """Namespace of the InferenceService the analysis patches."""
    inference_service: str = "lead-scoring"
    """Name of the InferenceService the analysis patches."""
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus HTTP API base URL the analysis queries."""
    prometheus_timeout_s: float = Field(default=10.0, gt=0)
    """Bound on each Prometheus query (connect + read), in seconds."""
    prometheus_retries: int = Field(default=3, ge=1)
    """Attempts per query before the interval counts as 'no data' (neither pass nor fail)."""
