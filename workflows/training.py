"""``training`` (WorkflowTemplate): medallion pipeline -> train (tune, fit, evaluate, gate, register).

The train step runs tuning, the promotion gate and the registration in one process on purpose: a version
is registered only with its gate verdict, so a failure in between never leaves half a registration. Its
outputs (MLflow run id, model version, gate verdict) are the workflow's output parameters.
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, Task, WorkflowTemplate
from hera.workflows import models as m

from workflows.common import EXIT_HANDLER, LABELS, NAMESPACE, SERVICE_ACCOUNT, cli_step, exit_handler, params, wf

NAME = "training"
DEFAULTS = {
    "lake": "",
    "source": "crm",
    "spec": "crm_freezone",
    "trials": "20",
    "gold_version": "latest",
}
"""An empty ``lake`` leaves the lake to the steps' ``LEADSCORE_LAKE``: in a cluster the ``leadscore-workflows``
ConfigMap sets it (chart ``workflows.settings``, with ``AWS_ENDPOINT_URL`` / ``AWS_REGION``; the credentials come
from the ``leadscore-workflows-secrets`` Secret, or a role), so the retrain trigger's and the schedules'
submissions, which pass no lake, use the cluster's lake; locally it is ``$LEADSCORE_HOME/lake`` (``make up``'s)."""
DESCRIPTIONS = {
    "lake": "Lake root: a local path or s3://bucket/prefix; empty: LEADSCORE_LAKE, else $LEADSCORE_HOME/lake.",
    "source": "Medallion input: crm, files:DIR or csv:PATH.",
    "spec": "Feature spec name (or YAML path) gold is built from and trained on.",
    "trials": "Optuna trials.",
    "gold_version": "Gold Delta version to train on; 'latest' runs the pipeline first and trains on its result.",
}
TRAIN_OUTPUTS = ("run_id", "model_version", "gate_decision")


def pipeline_task() -> Task:
    step = cli_step(
        "pipeline",
        ["pipeline", "run", "--source", wf("source"), "--spec", wf("spec"), "--lake", wf("lake"), "--json"],
        size="spark",
    )
    task = step(name="pipeline", when=f"{wf('gold_version')} == latest")
    assert isinstance(task, Task)
    return task


def train_args(extra: list[str]) -> list[str]:
    return [
        "train",
        "--lake",
        wf("lake"),
        "--spec",
        wf("spec"),
        "--trials",
        wf("trials"),
        "--gold-version",
        wf("gold_version"),
        "--outputs-dir",
        "/tmp/outputs",
        "--json",
        *extra,
    ]


def train_task(extra: list[str] | None = None) -> Task:
    step = cli_step("train", train_args(extra or []), size="train", outputs=TRAIN_OUTPUTS)
    task = step(name="train", depends="pipeline.Succeeded || pipeline.Skipped")
    assert isinstance(task, Task)
    return task


def dag_outputs() -> list[Parameter]:
    return [
        Parameter(name=o, value_from=m.ValueFrom(parameter="{{tasks.train.outputs.parameters." + o + "}}"))
        for o in TRAIN_OUTPUTS
    ]


def template(name: str, defaults: dict[str, str], descriptions: dict[str, str]) -> WorkflowTemplate:
    return WorkflowTemplate(
        name=name,
        namespace=NAMESPACE,
        labels={**LABELS, "leadscore/workflow": name},
        entrypoint="main",
        on_exit=EXIT_HANDLER,
        service_account_name=SERVICE_ACCOUNT,
        arguments=params(defaults, descriptions),
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
    )


def build() -> WorkflowTemplate:
    with template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        exit_handler()
        with DAG(name="main", outputs=dag_outputs()):
            pipeline_task()
            train_task()
    return w
