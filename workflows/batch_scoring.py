"""``batch-scoring`` (WorkflowTemplate): PySpark scores the gold leads with the champion.

Writes the Delta table ``gold/lead_scores`` under ``lake`` and upserts the CRM's ``lead_scores`` table
(``leadscore batch score``); a re-run replaces the same rows (idempotent). No champion -> the step fails
with the reason (no retry: it is not transient).
"""

from __future__ import annotations

from hera.workflows import DAG, WorkflowTemplate

from workflows import training
from workflows.common import cli_step, exit_handler, wf

NAME = "batch-scoring"
DEFAULTS = {"lake": training.DEFAULTS["lake"]}
DESCRIPTIONS = {"lake": training.DESCRIPTIONS["lake"]}


def build() -> WorkflowTemplate:
    with training.template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        exit_handler()
        score = cli_step("score", ["batch", "score", "--lake", wf("lake"), "--json"], size="spark")
        with DAG(name="main"):
            score(name="score")
    return w
