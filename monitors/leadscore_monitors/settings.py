"""Settings of the monitor components (pydantic-settings, ``MONITOR_`` prefix).

One class per component; they share :class:`ConsumerSettings` (where state lives, how events are
recorded). Nothing is read at import time: ``__main__`` builds the settings, then the objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from leadscore_core.lake import INFERENCE_LOG
from leadscore_core.settings import HomeSettings
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsumerSettings(BaseSettings):
    """What every CloudEvent consumer needs."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")

    host: str = "127.0.0.1"
    """Interface the consumer's HTTP server binds (``0.0.0.0`` in a pod)."""
    port: int = Field(8090, ge=0, le=65535)
    """HTTP port; the CloudEvent endpoint is ``POST /`` and Prometheus metrics are at ``/metrics``."""
    state_dir: Path | None = None
    """Durable state (SQLite window/dedupe stores); default ``$LEADSCORE_HOME/monitor/<component>``."""
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """SQLite fsync policy for the write-ahead store; FULL survives power loss, NORMAL only a crash."""
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    """Larger event bodies are refused with 413."""
    pii_salt: str | None = None
    """Salt of :func:`leadscore_core.events.lead_key` for bodies that still carry a raw lead id; default
    ``LEADSCORE_PII_SALT``."""

    def resolved_state_dir(self, component: str) -> Path:
        """The state directory of ``component``, created if missing."""
        base = self.state_dir or (HomeSettings().home / "monitor" / component)
        base.mkdir(parents=True, exist_ok=True)
        return base

    def salt(self) -> str:
        return self.pii_salt if self.pii_salt is not None else HomeSettings().pii_salt


class DriftSettings(ConsumerSettings):
    """The drift detector service. The verdict's thresholds are not here: they live in
    :class:`leadscore_core.settings.DriftThresholds` (``LEADSCORE_DRIFT_*``), read by every job that judges."""

    model_dir: Path
    """Artifact directory of the serving model version (holds ``drift_reference.json`` and the sample)."""
    backend: Literal["alibi", "evidently"] = "alibi"
    """Statistical backend: alibi-detect (BSL 1.1) or evidently (Apache-2.0)."""
    window_size: int = Field(500, gt=0)
    """Close a window after this many logged leads."""
    window_seconds: float = Field(300.0, gt=0)
    """...or after this many seconds since its first lead (whichever comes first)."""
    min_window: int = Field(50, gt=0)
    """A time-closed window with fewer leads is carried over rather than judged."""
    reply_url: str | None = None
    """Where the ``drift`` CloudEvent is posted (the broker ingress, or ``K_SINK`` of a SinkBinding)."""
    reply_timeout_seconds: float = Field(5.0, gt=0)
    """Bound on one delivery of a drift event; a failed delivery stays in the outbox and is retried."""
    event_source: str = "/leadscore/monitors/drift-detector"
    """``ce-source`` of the emitted drift events."""


class SinkSettings(ConsumerSettings):
    """The inference-log sink (bronze Delta table)."""

    spec: str = "crm_freezone"
    """Feature contract of the logged model (built-in name or YAML path); the log has one column per feature."""
    table_uri: str | None = None
    """Delta table of the inference log; default ``$LEADSCORE_HOME/lake/bronze/inference_log``."""
    flush_rows: int = Field(5000, gt=0)
    """Write a Delta commit once this many joined rows are staged..."""
    flush_seconds: float = Field(10.0, gt=0)
    """...or this many seconds after the oldest staged row."""
    pending_ttl_seconds: float = Field(3600.0, gt=0)
    """A request without its response (or the reverse) older than this is written half-joined."""

    def resolved_table_uri(self) -> str:
        return self.table_uri or str(HomeSettings().lake / INFERENCE_LOG)


class ShadowSettings(ConsumerSettings):
    """The shadow scorer."""

    shadow_model_dir: Path
    """Artifact directory of the ``shadow`` alias model version."""
    window_size: int = Field(200, gt=0)
    """Agreement (Spearman, top-decile overlap) is computed over windows of this many scored pairs."""


class TriggerSettings(ConsumerSettings):
    """The retraining trigger."""

    argo_server: str = ""
    """Argo Server URL (``MONITOR_ARGO_SERVER``): an accepted retrain submits the ``retraining``
    WorkflowTemplate there (``POST /api/v1/workflows/{namespace}``). The cluster setting."""
    argo_namespace: str = "leadscore"
    """Namespace the ``retraining`` workflow runs in (``MONITOR_ARGO_NAMESPACE``)."""
    argo_token: str = ""
    """Bearer token for the Argo Server (``MONITOR_ARGO_TOKEN``); ``argo_token_file`` wins when set."""
    argo_token_file: Path | None = None
    """File holding the token, re-read per submission (a projected service-account token rotates)."""
    argo_parameters: dict[str, str] = Field(default_factory=dict)
    """Extra ``retraining`` parameters as JSON (``MONITOR_ARGO_PARAMETERS``), e.g. ``{"trials": "50"}``."""
    argo_attempts: int = Field(3, ge=1, le=10)
    """Tries per submission (connection failures, 5xx); an unsubmitted retrain is tried again next tick."""
    argo_timeout_seconds: float = Field(5.0, gt=0)
    """Per-request timeout of a submission."""
    command: str = ""
    """Local dev stack only, when no Argo Server is set: command run (shell-split) for an accepted retrain,
    e.g. ``leadscore workflows run-local retraining`` (it must exist in the image that runs the trigger)."""
    cooldown_seconds: float = Field(6 * 3600.0, ge=0)
    """Retrain requests within this time of the last accepted one are recorded as suppressed."""
    run_async: bool = True
    """Start the command in the background (the event is acknowledged once the decision is durable)."""

    @model_validator(mode="after")
    def _one_way_to_start(self) -> TriggerSettings:
        if not self.argo_server and not self.command:
            raise ValueError(
                "set MONITOR_ARGO_SERVER (submit the retraining workflow) or, for the local stack, MONITOR_COMMAND"
            )
        return self

    def token(self) -> str:
        if self.argo_token_file is not None:
            return self.argo_token_file.read_text().strip()
        return self.argo_token


class OutcomeMetricsSettings(ConsumerSettings):
    """The outcome-metrics consumer (the outcome job's reports -> Prometheus)."""

    zero_hold_seconds: float = Field(120.0, ge=0)
    """A (model version, tier, converted) cell seen for the first time is exported at 0 for this long before
    its count, so Prometheus scrapes the 0 and ``increase()`` sees the whole first count (a series that
    appears at N counts nothing). Keep it above two scrape intervals."""


class OutcomeSettings(BaseSettings):
    """Outcome feedback job (CRM conversions joined to logged scores)."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")

    crm_table: str = "leads"
    """Table with ``lead_id``, a converted flag and ``converted_at``."""
    report_url: str | None = None
    """Where each run posts its ``ai.leadscore.outcome`` report event (``MONITOR_REPORT_URL``): the broker
    ingress in a cluster, the ``outcome-metrics`` consumer locally; unset: the report is only written to a file."""
    report_attempts: int = Field(3, ge=1, le=10)
    """Delivery attempts per event (report and business signal) before the job gives up with exit code 75."""
    report_timeout_seconds: float = Field(10.0, gt=0)
    """Timeout of one delivery attempt."""
    settle_days: float = Field(30.0, ge=0)
    """A joined lead counts in ``leadscore_outcomes_total`` once it converted, or once its score is this old
    without a conversion (earlier, "not converted" only means "not yet")."""
