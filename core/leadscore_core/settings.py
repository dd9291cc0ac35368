"""Settings shared by every component. Each component defines its own ``BaseSettings`` subclass with its
own env prefix (``LEADSCORE_``, ``PREDICTOR_``, ``TRANSFORMER_``, ``MONITOR_``, ``TRAINING_``); this module
holds only what they all agree on: where local state lives and the model registry coordinates."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
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


class CrmSettings(BaseSettings):
    """Where the CRM database lives: one name for every component (the data tools, the medallion's CRM
    source, the monitors' outcome job)."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore", populate_by_name=True)

    crm_dsn: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("LEADSCORE_CRM_DSN", "MONITOR_CRM_DSN"),
    )
    """libpq connection string of the CRM database (``LEADSCORE_CRM_DSN``; ``MONITOR_CRM_DSN``, the outcome
    job's old name, is still read)."""
    crm_connect_timeout: int = 5
    """Seconds to wait for the CRM before giving up (``LEADSCORE_CRM_CONNECT_TIMEOUT``)."""


class SourceSettings(BaseSettings):
    """Where the project's source checkout is: the local dev stack runs the other images' environments
    (``<repo>/<project>/.venv``) and training records the commit. An installed image has no checkout:
    there these are set explicitly or the features that need them say so."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore")

    repo: Path | None = None
    """Checkout root (``LEADSCORE_REPO``); default: the checkout this code runs from, if it runs from one."""
    git_sha: str = ""
    """Commit of the code (``LEADSCORE_GIT_SHA``, set by an image build); default: asked from git in the
    checkout, else ``unknown``."""

    def checkout(self, anchor: Path) -> Path | None:
        """``repo``, else the nearest directory above ``anchor`` (a module file) holding ``core/`` and
        ``pyproject.toml`` (a source checkout), else None (an installed package)."""
        if self.repo is not None:
            return self.repo
        for parent in Path(anchor).resolve().parents:
            if (parent / "pyproject.toml").is_file() and (parent / "core" / "leadscore_core").is_dir():
                return parent
        return None
