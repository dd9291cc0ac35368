"""The CronWorkflows: when the templates run on their own. Each runs a WorkflowTemplate by reference
(``workflowTemplateRef``), forbids overlapping runs, keeps a short history and states its time zone.

Retraining cadence (configurable below): weekly for the first ``RETRAIN_WEEKLY_RUNS`` successful runs
(13 = the first 3 months), then monthly. One CronWorkflow does both: it fires every Monday and its
``when`` expression (Argo >= 3.6) lets a run start while fewer than ``RETRAIN_WEEKLY_RUNS`` have succeeded,
afterwards only when the last scheduled run is at least ``RETRAIN_MONTHLY_HOURS`` old (4 weeks). So the
switch needs no operator and survives controller restarts (the counters live in the CronWorkflow status).
To change the cadence edit the constants and `python -m workflows.render --write`.
"""

from __future__ import annotations

from typing import Final

from hera.workflows import CronWorkflow, Parameter
from hera.workflows import models as m

from workflows.common import LABELS, NAMESPACE, SERVICE_ACCOUNT

NAME = "schedules"
TIMEZONE: Final = "Etc/UTC"
RETRAIN_CRON: Final = "0 3 * * 1"
"""Mondays 03:00."""
RETRAIN_WEEKLY_RUNS: Final = 13
RETRAIN_MONTHLY_HOURS: Final = 28 * 24
RETRAIN_WHEN: Final = (
    f"{{{{= cronworkflow.succeeded < {RETRAIN_WEEKLY_RUNS} || cronworkflow.lastScheduledTime == nil"
    f" || (now() - cronworkflow.lastScheduledTime).Hours() >= {RETRAIN_MONTHLY_HOURS} }}}}"
)


def cron(
    name: str,
    template: str,
    schedule: str,
    arguments: dict[str, str] | None = None,
    when: str | None = None,
) -> CronWorkflow:
    """A CronWorkflow that runs WorkflowTemplate ``template`` on ``schedule`` (one run at a time)."""
    return CronWorkflow(
        name=name,
        namespace=NAMESPACE,
        labels={**LABELS, "leadscore/workflow": template},
        schedules=[schedule],
        timezone=TIMEZONE,
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        when=when,
        service_account_name=SERVICE_ACCOUNT,
        workflow_template_ref=m.WorkflowTemplateRef(name=template),
        arguments=[Parameter(name=k, value=v) for k, v in (arguments or {}).items()] or None,
    )


def build_all() -> list[CronWorkflow]:
    return [
        cron(
            "retraining-scheduled",
            "retraining",
            RETRAIN_CRON,
            {"reason": "schedule", "evidence": "scheduled retraining (weekly for 3 months, then monthly)"},
            when=RETRAIN_WHEN,
        ),
        cron("batch-scoring-nightly", "batch-scoring", "30 1 * * *"),
        cron("analysis-hourly", "analysis", "5 * * * *", {"job": "hourly"}),
        cron("analysis-daily", "analysis", "15 2 * * *", {"job": "daily"}),
        cron("analysis-weekly", "analysis", "45 2 * * 1", {"job": "weekly"}),
        cron("outcome-join-daily", "outcome-join", "0 4 * * *"),
    ]
