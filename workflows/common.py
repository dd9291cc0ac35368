"""Conventions every leadscore workflow module follows (the pattern new modules, e.g. canary, copy).

* One module per workflow under ``workflows/``, exposing ``NAME`` and ``build() -> hera Workflow`` (a
  ``WorkflowTemplate`` or ``CronWorkflow``); :mod:`workflows.catalog` lists them, ``python -m workflows.render
  --write`` writes ``workflows/<NAME>.yaml`` beside it, a golden test compares.
* A step is :func:`cli_step`: a container in the tools image whose command is the ``leadscore`` CLI (the step
  body is a plain CLI command, testable without Argo). Its arguments use ``{{workflow.parameters.x}}`` for the
  workflow's parameters and ``{{inputs.parameters.x}}`` for values passed from an earlier step.
* A step's outputs are files under :data:`OUTPUT_DIR` named like the parameter (``valueFrom.path``): the CLI
  writes them with ``--outputs-dir``.
* Retries: :func:`transient_retry` retries only a step that exited with
  :data:`leadscore_core.workflows.TRANSIENT_EXIT_CODE` (a dependency unreachable) or an infrastructure error
  (pod evicted), with exponential backoff; a real failure (bad data, gate refusal, bug) fails at once.
* Every workflow runs as :data:`SERVICE_ACCOUNT` (see :mod:`workflows.rbac`) and has an exit handler
  (:func:`exit_handler`) that reports the final status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hera.workflows import Container, Env, Parameter, Resources, RetryStrategy, UserContainer
from hera.workflows import models as m

from leadscore_core.workflows import TRANSIENT_EXIT_CODE

NAMESPACE: Final = "leadscore"
SERVICE_ACCOUNT: Final = "leadscore-workflows"
TOOLS_IMAGE: Final = "ghcr.io/leadscore/leadscore-tools:0.1.0"
MONITORS_IMAGE: Final = "ghcr.io/leadscore/leadscore-monitors:0.1.0"
SETTINGS_CONFIGMAP: Final = "leadscore-workflows"
"""ConfigMap with the plain cluster settings every step reads (MLFLOW_TRACKING_URI, LEADSCORE_LAKE, AWS_REGION,
AWS_ENDPOINT_URL, ...): the chart renders it from ``workflows.settings`` when ``workflows.enabled``."""
CREDENTIALS_SECRET: Final = "leadscore-workflows-secrets"
"""Secret with the credentials every step reads (LEADSCORE_CRM_DSN, LEADSCORE_PII_SALT, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY), each key an env var name; created by the platform team (chart value ``secrets.workflows``,
which the chart substitutes for this name in the installed YAML)."""
OUTPUT_DIR: Final = "/tmp/outputs"
LABELS: Final = {"app.kubernetes.io/name": "leadscore", "app.kubernetes.io/component": "workflows"}
EXIT_HANDLER: Final = "exit-handler"

SIZES: Final = {
    "small": Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"),
    "spark": Resources(cpu_request="2", memory_request="4Gi", cpu_limit="2", memory_limit="6Gi"),
    "train": Resources(cpu_request="2", memory_request="4Gi", cpu_limit="2", memory_limit="8Gi"),
}
"""Resource requests/limits per kind of step (Spark local[2] and XGBoost use two cores)."""


def wf(name: str) -> str:
    """Reference to a workflow parameter."""
    return "{{workflow.parameters." + name + "}}"


def inp(name: str) -> str:
    """Reference to a step input parameter."""
    return "{{inputs.parameters." + name + "}}"


def output_path(name: str) -> str:
    return f"{OUTPUT_DIR}/{name}"


def transient_retry(limit: int = 3) -> RetryStrategy:
    """Retry only transient failures: exit code TRANSIENT_EXIT_CODE or an Argo node Error (pod lost)."""
    return RetryStrategy(
        limit=limit,
        retry_policy="Always",
        expression=f'lastRetry.status == "Error" || asInt(lastRetry.exitCode) == {TRANSIENT_EXIT_CODE}',
        backoff=m.Backoff(duration="30s", factor=2, max_duration="15m"),
    )


def settings_env() -> list[Any]:
    """Every step's environment: the settings ConfigMap and the credentials Secret, both optional (a missing
    one leaves the CLI's local defaults, so a local or partial install still starts the pods)."""
    return [
        m.EnvFromSource(config_map_ref=m.ConfigMapEnvSource(name=SETTINGS_CONFIGMAP, optional=True)),
        m.EnvFromSource(secret_ref=m.SecretEnvSource(name=CREDENTIALS_SECRET, optional=True)),
    ]


def cli_step(
    name: str,
    args: Sequence[str],
    *,
    size: str = "small",
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    image: str = TOOLS_IMAGE,
    command: Sequence[str] = ("leadscore",),
    retry: bool = True,
    **extra: Any,
) -> Container:
    """A container template running ``leadscore ARGS`` (or ``command``) in the tools image.

    ``outputs`` are output parameters read from ``OUTPUT_DIR/<name>`` (the CLI writes them).
    """
    return Container(
        name=name,
        image=image,
        command=list(command),
        args=list(args),
        inputs=[Parameter(name=i) for i in inputs] or None,
        outputs=[Parameter(name=o, value_from=m.ValueFrom(path=output_path(o))) for o in outputs] or None,
        resources=SIZES[size],
        retry_strategy=transient_retry() if retry else None,
        env_from=settings_env(),
        env=[Env(name="PYTHONUNBUFFERED", value="1")],
        security_context=m.SecurityContext(
            allow_privilege_escalation=False, capabilities=m.Capabilities(drop=["ALL"]), run_as_non_root=True
        ),
        **extra,
    )


def exit_handler() -> Container:
    """Runs whatever the outcome: one JSON line with the status and failures, for the logs and alerts."""
    return cli_step(
        EXIT_HANDLER,
        [
            "workflows",
            "exit-report",
            "--name",
            "{{workflow.name}}",
            "--status",
            "{{workflow.status}}",
            "--failures",
            "{{workflow.failures}}",
        ],
        retry=False,
    )


def params(defaults: dict[str, str], descriptions: dict[str, str]) -> list[Parameter]:
    """Workflow arguments, in the given order, each with its default and description."""
    return [Parameter(name=k, value=v, description=descriptions.get(k)) for k, v in defaults.items()]


def init_fetch_champion(mount: str = "/models") -> UserContainer:
    """Init container (tools image): download the champion's artifact to ``<mount>/champion``."""
    return UserContainer(
        name="fetch-champion",
        image=TOOLS_IMAGE,
        command=["leadscore"],
        args=["registry", "fetch", "champion", "--out", f"{mount}/champion"],
        env_from=settings_env(),
        resources=SIZES["small"],
        volume_mounts=[m.VolumeMount(name="models", mount_path=mount)],
    )
