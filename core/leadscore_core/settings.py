"""Settings shared by every component. Each component defines its own ``BaseSettings`` subclass with its
own env prefix (``LEADSCORE_``, ``PREDICTOR_``, ``TRANSFORMER_``, ``MONITOR_``, ``TRAINING_``); this module
holds only what they all agree on: where local state lives and the model registry coordinates."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HomeSettings(BaseSettings):
    """Local state root. Everything a run writes (lake, MLflow store, logs, reports) lives below it,
    so runs can be isolated by pointing ``LEADSCORE_HOME`` elsewhere."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore")

    home: Path = Field(default=Path(".leadscore"))
    """Root of local state (``LEADSCORE_HOME``); default ``./.leadscore``."""
    model_name: str = "lead-scoring"
    """Registered model name in MLflow (``LEADSCORE_MODEL_NAME``)."""
    pii_salt: str = "leadscore-local-salt"
    """Salt for the lead-id hash used as join key in logs and events (``LEADSCORE_PII_SALT``);
    set a secret value in every real deployment."""

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").resolve().as_uri()

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def reports(self) -> Path:
        return self.home / "reports"
