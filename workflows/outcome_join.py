"""``outcome-join`` (WorkflowTemplate): CRM conversions joined to the logged scores.

Realised AUC and conversion by tier; a conversion drop is sent to the retraining trigger as a
``business`` retrain request. Runs in the monitors image (``python -m leadscore_monitors outcome``).
"""

from __future__ import annotations

from hera.workflows import DAG, WorkflowTemplate

from workflows import training
from workflows.common import MONITORS_IMAGE, cli_step, exit_handler, wf

NAME = "outcome-join"
DEFAULTS = {
    "table_uri": "s3://leadscore-lake/bronze/inference_log",
    "trigger_url": "http://retrain-trigger.leadscore.svc.cluster.local",
}
DESCRIPTIONS = {
    "table_uri": "Delta inference log URI.",
    "trigger_url": "Retraining trigger notified on a conversion drop (business signal).",
}


def build() -> WorkflowTemplate:
    with training.template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        exit_handler()
        step = cli_step(
            "outcome",
            ["outcome", "--table-uri", wf("table_uri"), "--trigger-url", wf("trigger_url")],
            image=MONITORS_IMAGE,
            command=("python", "-m", "leadscore_monitors"),
        )
        with DAG(name="main"):
            step(name="outcome")
    return w
