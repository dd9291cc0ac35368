"""The canary rollout as an Argo WorkflowTemplate (hera): analyse 10 -> 50 %, wait for approval, 100 % +
promotion + the 48-hour watch. Each step calls the CLI (`leadscore canary analyze`); the analysis logic is
leadscore.delivery.analysis.

Regenerate the committed YAML on request (never in CI): ``.venv/bin/python -m workflows.canary > workflows/canary.yaml``
"""

from __future__ import annotations

from typing import Final

from hera.workflows import Container, Env, Parameter, Steps, Suspend, WorkflowTemplate

from workflows.common import settings_env

IMAGE: Final = "ghcr.io/leadscore/leadscore-tools:0.1.0"
SERVICE_ACCOUNT: Final = "leadscore-canary"
"""manifests/delivery/rbac.yaml: get + patch on the lead-scoring InferenceService, nothing else."""
METRICS_PORT: Final = 9108
"""Each analysis pod serves leadscore_canary_rollbacks_total here (scraped through the pod annotations)."""
ENV: Final = [  # these win over the same names in the settings ConfigMap (envFrom, see settings_env)
    Env(name="MLFLOW_TRACKING_URI", value="http://leadscore-mlflow.leadscore.svc:5000"),
    Env(name="LEADSCORE_DELIVERY_PROMETHEUS_URL", value="http://prometheus-operated.monitoring.svc:9090"),
    Env(name="LEADSCORE_DELIVERY_MODEL_STORE", value="s3://leadscore-models"),
    Env(name="LEADSCORE_ACTOR", value="argo:{{workflow.name}}"),
]


def analyze_args(steps: str, promote: bool) -> list[str]:
    """The CLI call of one analysis step (workflow parameters are substituted by Argo)."""
    args = [
        "canary",
        "analyze",
        "--model-version={{workflow.parameters.model-version}}",
        f"--steps={steps}",
        "--bake={{workflow.parameters.bake}}",
        "--interval={{workflow.parameters.interval}}",
        f"--metrics-port={METRICS_PORT}",
    ]
    if promote:
        args += ["--promote", "--watch={{workflow.parameters.watch}}"]
    return args


def _analysis(name: str, steps: str, promote: bool) -> Container:
    return Container(
        name=name,
        image=IMAGE,
        args=analyze_args(steps, promote),
        env=ENV,
        env_from=settings_env(),  # the CRM DSN and S3 credentials (Secret), the S3 endpoint (ConfigMap)
        annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        },
        labels={"app.kubernetes.io/name": "leadscore", "app.kubernetes.io/component": "canary-analysis"},
    )


def build() -> WorkflowTemplate:
    with WorkflowTemplate(
        name="leadscore-canary",
        namespace="leadscore",
        entrypoint="rollout",
        service_account_name=SERVICE_ACCOUNT,
        arguments=[
            Parameter(name="model-version"),
            Parameter(name="bake", value="10=1d,50=2d,100=1h"),
            Parameter(name="interval", value="1h"),
            Parameter(name="watch", value="48h"),
        ],
    ) as wt:
        first = _analysis("analyze-10-50", "10,50", promote=False)
        approve = Suspend(name="approve-production")
        last = _analysis("analyze-100-promote-watch", "100", promote=True)
        with Steps(name="rollout"):
            first()
            approve()
            last()
    return wt


if __name__ == "__main__":
    print(build().to_yaml(), end="")
