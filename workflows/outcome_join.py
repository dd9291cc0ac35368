"""``outcome-join`` (WorkflowTemplate): CRM conversions joined to the logged scores.

Realised AUC and conversion by tier; each run's report goes to the broker as an ``ai.leadscore.outcome``
event (the ``outcome-metrics`` consumer stores it and exports the business metrics), and a conversion drop
as a ``business`` retrain request (the retrain trigger's Trigger). Both go through the broker: the
consumers' NetworkPolicy admits events from knative-eventing only. Runs in the monitors image
(``python -m leadscore_monitors outcome``); an undelivered event exits 75 and the step is retried.
"""

from __future__ import annotations

from hera.workflows import DAG, WorkflowTemplate

from workflows import training
from workflows.common import MONITORS_IMAGE, NAMESPACE, cli_step, exit_handler, wf

NAME = "outcome-join"
BROKER = f"http://broker-ingress.knative-eventing.svc.cluster.local/{NAMESPACE}/default"
DEFAULTS = {
    "table_uri": "s3://leadscore-lake/bronze/inference_log",
    "trigger_url": BROKER,
    "report_url": BROKER,
}
DESCRIPTIONS = {
    "table_uri": "Delta inference log URI.",
    "trigger_url": "Where a conversion drop (business signal) is sent as a retrain request: the broker.",
    "report_url": "Where each run's report is sent (ai.leadscore.outcome, for the outcome-metrics consumer).",
}


def build() -> WorkflowTemplate:
    with training.template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        exit_handler()
        step = cli_step(
            "outcome",
            [
                "outcome",
                "--table-uri",
                wf("table_uri"),
                "--trigger-url",
                wf("trigger_url"),
                "--report-url",
                wf("report_url"),
            ],
            image=MONITORS_IMAGE,
            command=("python", "-m", "leadscore_monitors"),
        )
        with DAG(name="main"):
            step(name="outcome")
    return w
