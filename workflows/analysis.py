"""``analysis`` (WorkflowTemplate): one scheduled monitoring job over the Delta inference log.

``job`` is hourly (feature stats), daily (PSI/KL per feature) or weekly (evidently report). The job runs
in the monitors image (``python -m leadscore_monitors analyze``); an init container in the tools image
downloads the champion's artifact (the drift reference) into a shared emptyDir first.
"""

from __future__ import annotations

from hera.workflows import DAG, EmptyDirVolume, WorkflowTemplate
from hera.workflows import models as m

from workflows import training
from workflows.common import MONITORS_IMAGE, cli_step, exit_handler, init_fetch_champion, wf

NAME = "analysis"
DEFAULTS = {"job": "daily", "table_uri": "s3://leadscore-lake/bronze/inference_log"}
DESCRIPTIONS = {
    "job": "hourly (feature stats), daily (PSI/KL) or weekly (evidently report).",
    "table_uri": "Delta inference log URI.",
}
MODELS = "/models"


def build() -> WorkflowTemplate:
    with training.template(NAME, DEFAULTS, DESCRIPTIONS) as w:
        w.volumes = [EmptyDirVolume(name="models", size_limit=m.Quantity("1Gi"))]
        exit_handler()
        step = cli_step(
            "analyze",
            ["analyze", wf("job"), "--model-dir", f"{MODELS}/champion", "--table-uri", wf("table_uri")],
            image=MONITORS_IMAGE,
            command=("python", "-m", "leadscore_monitors"),
            size="spark",
            init_containers=[init_fetch_champion(MODELS)],
            volume_mounts=[m.VolumeMount(name="models", mount_path=MODELS)],
        )
        with DAG(name="main"):
            step(name="analyze")
    return w
