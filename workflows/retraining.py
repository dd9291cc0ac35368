"""``retraining`` (WorkflowTemplate): the training DAG with a reason and its evidence, then shadow.

``reason`` (drift | schedule | business | manual) and ``evidence`` are recorded on the MLflow run (tags
``retrain_reason`` / ``retrain_evidence``). The train step registers the new version in staging when the
gate passes; the ``shadow`` step then starts its shadow stage (``registry promote --to shadow``: the
shadow scorer follows the ``shadow`` alias). A gate refusal ends the workflow successfully without it.
Submitted by the retraining trigger, ``leadscore retrain`` and the retraining CronWorkflows.
"""

from __future__ import annotations

from hera.workflows import DAG, WorkflowTemplate

from workflows import training
from workflows.common import cli_step, exit_handler, inp, wf

NAME = "retraining"
DEFAULTS = {**training.DEFAULTS, "reason": "manual", "evidence": ""}
DESCRIPTIONS = {
    **training.DESCRIPTIONS,
    "reason": "Why: drift, schedule, business or manual (recorded on the MLflow run).",
    "evidence": "What triggered it, e.g. the drifted features and their PSI (recorded on the MLflow run).",
}


def shadow_step():  # -> Container
    return cli_step(
        "start-shadow",
        ["registry", "promote", inp("model_version"), "--to", "shadow", "--json"],
        inputs=("model_version",),
    )


def build() -> WorkflowTemplate:
    with training.template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        exit_handler()
        shadow = shadow_step()
        with DAG(name="main", outputs=training.dag_outputs()):
            training.pipeline_task()
            training.train_task(["--reason", wf("reason"), "--evidence", wf("evidence")])
            shadow(
                name="shadow",
                arguments={"model_version": "{{tasks.train.outputs.parameters.model_version}}"},
                when="{{tasks.train.outputs.parameters.gate_decision}} == promoted",
                depends="train",
            )
    return w
