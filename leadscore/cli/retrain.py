"""``leadscore retrain --reason manual --note "..."``: ask Argo for a ``retraining`` run.

The same code path as the retraining trigger in the monitors image: the Workflow body comes from
:func:`leadscore_core.workflows.retraining_request` and is POSTed by :func:`leadscore_core.workflows.post_workflow`
to the Argo Server named by ARGO_SERVER / ARGO_NAMESPACE / ARGO_TOKEN.

Named like the trigger names its runs: from a request id (``--request-id``, else a new one per invocation),
so one request is one Workflow. Two retrains asked for separately are two runs; the same request sent again
(``--request-id`` repeated, or the client's own retry after an answer was lost) is refused by Argo as
AlreadyExists, reported as ``"already_submitted": true`` with exit 0.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.console import Console

from leadscore_core.workflows import RETRAIN_REASONS, TRANSIENT_EXIT_CODE


def retrain_command(
    reason: Annotated[str, typer.Option(help=f"Why: {' | '.join(RETRAIN_REASONS)}.")] = "manual",
    note: Annotated[str, typer.Option(help="Evidence recorded on the MLflow run.")] = "",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Override KEY=VALUE.")] = None,
    request_id: Annotated[
        str | None,
        typer.Option(help="Idempotency key: the same id sends the same Workflow once (default: a new id)."),
    ] = None,
) -> None:
    """Submit the ``retraining`` WorkflowTemplate with a reason and evidence."""
    from leadscore_core.workflows import SubmitError, WorkflowRequestError, post_workflow, retraining_request
    from workflows import catalog
    from workflows.submit import ArgoSettings, SubmitConfigError

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    rid = (f"manual-{uuid.uuid4().hex}" if request_id is None else request_id).strip()
    try:
        extra = catalog.parse_params(param or [])
        catalog.resolve_params("retraining", extra)
        settings = ArgoSettings()
        url = settings.url()
        body = retraining_request(reason, note, namespace=settings.namespace, request_id=rid, **extra)
    except (WorkflowRequestError, SubmitConfigError, catalog.BadParameter) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        created = post_workflow(
            url,
            settings.namespace,
            settings.token,
            body,
            attempts=settings.attempts,
            backoff=settings.backoff_seconds,
            timeout=settings.timeout_seconds,
            verify_tls=not settings.insecure_skip_verify,
        )
    except SubmitError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(TRANSIENT_EXIT_CODE if exc.transient else 1) from None
    name = created.get("metadata", {}).get("name", "?")
    summary = {
        "name": name,
        "namespace": settings.namespace,
        "reason": reason,
        "request_id": rid,
        "already_submitted": bool(created.get("alreadyExists")),
    }
    print(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain_command)
