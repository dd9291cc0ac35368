"""Settings shared by every component. Each component defines its own ``BaseSettings`` subclass with its
own env prefix (``LEADSCORE_``, ``PREDICTOR_``, ``TRANSFORMER_``, ``MONITOR_``, ``TRAINING_``); this module
holds only what they all agree on: where local state lives and the model registry coordinates."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore_core.storage import StorageUri


class HomeSettings(BaseSettings):
    """Local state root. Everything a run writes (lake, MLflow store, logs, reports) lives below it,
    so runs can be isolated by pointing ``LEADSCORE_HOME`` elsewhere."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".leadscore"))
    """Root of local state (``LEADSCORE_HOME``); default ``./.leadscore``."""
    model_name: str = "lead-scoring"
    """Registered model name in MLflow (``LEADSCORE_MODEL_NAME``)."""
    pii_salt: str = "leadscore-local-salt"
    """Salt for the lead-id hash used as join key in logs and events (``LEADSCORE_PII_SALT``);
    set a secret value in every real deployment."""
    lake_uri: str = Field(default="", validation_alias=AliasChoices("LEADSCORE_LAKE"))
    """Lake root (``LEADSCORE_LAKE``): a local path or ``s3://bucket/prefix``; default ``$LEADSCORE_HOME/lake``.
    A ``--lake`` option overrides it."""
    mlflow_artifacts: str = ""
    """Artifact root of the experiments the embedded MLflow store creates (``LEADSCORE_MLFLOW_ARTIFACTS``): a local
    path or ``s3://bucket/prefix``; default ``$LEADSCORE_HOME/mlflow/artifacts``. A tracking server keeps its own
    (``mlflow server --default-artifact-root s3://...``)."""

    @property
    def lake(self) -> StorageUri:
        """The lake root as a :class:`~leadscore_core.storage.StorageUri` (local path or ``s3://``)."""
        return StorageUri.parse(self.lake_uri) if self.lake_uri else StorageUri.parse(self.home / "lake")

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> str:
        """MLflow artifact location of new experiments: ``s3://...`` or a ``file://`` URI."""
        root = StorageUri.parse(self.mlflow_artifacts) if self.mlflow_artifacts else None
        if root is not None and not root.is_local:
            return str(root)
        return (root.local_path if root is not None else (self.mlflow_dir / "artifacts").resolve()).as_uri()

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def reports(self) -> Path:
        return self.home / "reports"


class DriftThresholds(BaseSettings):
    """Every threshold of the drift, bias and outcome verdicts (``LEADSCORE_DRIFT_`` prefix), in one place.

    A feature drifts when its PSI on the reference bins reaches the floor of its type (or the spec's
    ``drift_psi``) AND its test is significant after the multiple-testing correction across the window's
    hypotheses (features, score, reason mix). The effect floor keeps a large window from flagging
    negligible shifts; the corrected test keeps a small window from flagging noise. Error rates of these
    defaults are measured by ``bench/drift_power.py`` (docs/monitoring.md)."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_DRIFT_", extra="ignore")

    psi_numeric: float = Field(0.1, gt=0)
    """PSI floor of numeric features (0.1 = the conventional "moderate shift" level)."""
    psi_categorical: float = Field(0.1, gt=0)
    """PSI floor of categorical features."""
    psi_boolean: float = Field(0.1, gt=0)
    """PSI floor of boolean features."""
    psi_score: float = Field(0.1, gt=0)
    """PSI floor of the calibrated-probability distribution."""
    psi_reasons: float = Field(0.1, gt=0)
    """PSI floor of the top-reason mix (which feature drives each lead's score)."""
    psi_major: float = Field(0.25, gt=0)
    """PSI from which a shift is reported as ``major`` (the alerting severity; not the verdict)."""
    alpha: float = Field(0.05, gt=0, lt=1)
    """Family-wise significance level of the window's tests after the correction."""
    correction: Literal["holm", "bh"] = "holm"
    """Multiple-testing correction across the window's hypotheses: Holm (family-wise) or Benjamini-Hochberg."""
    new_value_min_share: float = Field(0.005, gt=0, lt=1)
    """A category the reference never saw is reported ``new`` when it holds this share of the window..."""
    new_value_min_count: int = Field(5, ge=1)
    """...and at least this many leads."""
    bias_min_group: int = Field(100, ge=1)
    """Bias figures of a sensitive group are computed only with this many leads in the window."""
    bias_ratio_min: float = Field(0.8, gt=0, le=1)
    """Tier-A rate ratio (group vs the rest) relative to the reference below this (or above its inverse)
    flags bias drift (the four-fifths rule of disparate impact)."""
    bias_score_gap_max: float = Field(0.05, gt=0)
    """Change of the mean-score gap (group minus the rest, probability units) vs the reference that flags."""
    auc_drop_min: float = Field(0.03, gt=0)
    """Outcome path: realised AUC this far below the reference AUC, and significantly so, flags concept drift."""
    outcome_min_conversions: int = Field(100, ge=1)
    """Outcome path: fewer conversions than this in the labelled window is too few to judge (no verdict)."""
    conversion_drop_max: float = Field(0.10, gt=0, lt=1)
    """Outcome path, business signal: the later half of the logged period converts this share less than the
    earlier half (``1 - later / earlier``). The outcome job reads it (the ``leadscore-workflows`` ConfigMap in a
    cluster) and sends it with each report; ``leadscore_outcome_conversion_drop_threshold`` exports it and the
    alert ``LeadConversionDrop`` compares the drop with that series (this default when a report lacks it)."""

    def psi_for(self, feature_type: str) -> float:
        """The PSI floor of a spec feature type."""
        return {"numeric": self.psi_numeric, "boolean": self.psi_boolean}.get(feature_type, self.psi_categorical)


class CanaryThresholds(BaseSettings):
    """Every threshold of the canary analysis (``LEADSCORE_CANARY_`` prefix): canary vs stable, one
    interval at a time (``leadscore.delivery.checks``). A quiet interval (too few samples) waits; it
    neither passes nor fails the candidate."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_CANARY_", extra="ignore")

    min_requests: int = Field(200, ge=1)
    """Requests per side in the window below which the interval waits."""
    min_success_rate: float = Field(0.99, gt=0, le=1)
    """Canary success rate floor (non-5xx / all)."""
    max_success_drop: float = Field(0.005, ge=0, lt=1)
    """Canary success rate may trail stable's by at most this much."""
    max_p99_s: float = Field(0.2, gt=0)
    """Canary p99 latency ceiling, seconds."""
    max_psi: float = Field(0.2, gt=0)
    """PSI (:func:`leadscore_core.stats.psi`) of the canary's live score distribution against the one its
    shadow replay approved (stable's live scores through the approved shift), or against stable's when no
    shadow evidence exists: a model other than the one approved, not input drift (that is
    :class:`DriftThresholds`)."""
    min_scores: int = Field(200, ge=1)
    """Scores per side needed before PSI is judged."""
    min_outcomes: int = Field(100, ge=1)
    """Labelled top-tier outcomes per side needed before the KPI is judged."""
    max_kpi_drop: float = Field(0.05, ge=0, lt=1)
    """Top-tier conversion of the canary may trail stable's by at most this much (absolute)..."""
    kpi_z: float = Field(2.58, gt=0)
    """...and a larger drop fails only when significant: one-sided two-proportion z above this (p < 0.005),
    so sampling noise in a window of a few hundred outcomes does not roll a good model back."""
    top_tiers: tuple[str, ...] = ("A", "B")
    """Tiers whose conversion is the business KPI (JSON list in the environment)."""


class ShadowCriteria(BaseSettings):
    """Exit criteria of the shadow stage (``LEADSCORE_SHADOW_`` prefix): may the shadow version start its
    canary (``leadscore canary shadow-check``)?"""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_SHADOW_", extra="ignore")

    min_days: float = Field(7.0, ge=0)
    """Days in shadow before the canary may start (seed: 1-2 weeks)."""
    min_spearman: float = Field(0.7, ge=-1, le=1)
    """Floor of the Spearman correlation of shadow and production scores (``leadscore_shadow_spearman``);
    lower means something is broken, not that the shadow is better."""
    min_top_decile_overlap: float = Field(0.5, ge=0, le=1)
    """Floor of the share of production's top decile also in the shadow's."""
    min_tier_agreement: float = Field(0.6, ge=0, le=1)
    """Floor of the share of leads both models put in the same tier."""
    min_outcomes: int = Field(200, ge=1)
    """Labelled logged leads (both classes present) before the realised AUC is judged."""
    auc_tolerance: float = Field(0.005, ge=0, lt=1)
    """The shadow's realised AUC may trail the champion's on the same leads by at most this much."""


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
    """Seconds to wait for the CRM before giving up (``LEADSCORE_CRM_CONNECT_TIMEOUT``); covers the TCP
    connect and the whole handshake, so a blackholed or slow server fails within it."""
    crm_statement_timeout_ms: int = 300_000
    """Server-side bound on one CRM statement (``statement_timeout``; ``LEADSCORE_CRM_STATEMENT_TIMEOUT_MS``)."""


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
