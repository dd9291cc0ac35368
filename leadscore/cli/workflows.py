"""``leadscore workflows list|render|submit|run-local|exit-report``: the Argo workflows for ML engineers."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from leadscore_core.workflows import TRANSIENT_EXIT_CODE

group = typer.Typer(help="Argo workflows: list, render, submit, run locally.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Parameter KEY=VALUE (repeatable).")]


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@group.command("list")
def list_command() -> None:
    """The submittable workflows with their parameters and defaults."""
    from workflows import catalog

    for name, module in catalog.TEMPLATES.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        typer.echo(f"{name}: {doc}")
        for key, value in catalog.defaults(name).items():
            typer.echo(f"    {key}={value}")


@group.command("render")
def render_command(
    name: Annotated[str | None, typer.Argument(help="Workflow (default: every file under workflows/).")] = None,
    param: ParamOpt = None,
    as_workflow: Annotated[bool, typer.Option("--workflow", help="The Workflow `submit` would send.")] = False,
) -> None:
    """Print the rendered YAML (the committed file), or with --workflow the Workflow a submit sends."""
    import yaml

    from workflows import catalog

    try:
        if as_workflow or param:
            if not name:
                _fail("--workflow/--param need a workflow NAME")
            body = catalog.submit_workflow(str(name), catalog.parse_params(param or []))
            typer.echo(yaml.safe_dump(body, sort_keys=False, width=120), nl=False)
            return
        for file in [name] if name else list(catalog.FILES):
            typer.echo(catalog.render_text(file), nl=False)
    except (catalog.UnknownWorkflow, catalog.BadParameter) as exc:
        _fail(str(exc))


@group.command("submit")
def submit_command(
    name: Annotated[str, typer.Argument(help="Workflow to submit (see `leadscore workflows list`).")],
    param: ParamOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the workflow to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 6 * 3600.0,
) -> None:
    """Submit NAME to the Argo Server in ARGO_SERVER / ARGO_NAMESPACE with ARGO_TOKEN."""
    from workflows import catalog
    from workflows.submit import ArgoSettings, ArgoUnavailable, SubmitConfigError, submit
    from workflows.submit import wait as wait_for

    try:
        body = catalog.submit_workflow(name, catalog.parse_params(param or []))
        settings = ArgoSettings()
        settings.url()
    except (catalog.UnknownWorkflow, catalog.BadParameter, SubmitConfigError) as exc:
        _fail(str(exc))
    try:
        created = submit(body, settings)
        wf_name = created.get("metadata", {}).get("name", "?")
        typer.echo(json.dumps({"name": wf_name, "namespace": settings.namespace}))
        err.print(f"submitted {wf_name}; watch: argo watch -n {settings.namespace} {wf_name}")
        if wait:
            phase = wait_for(wf_name, settings, timeout)
            typer.echo(json.dumps({"name": wf_name, "phase": phase}))
            if phase != "Succeeded":
                _fail(f"workflow {wf_name} ended {phase}", 1)
    except ArgoUnavailable as exc:
        _fail(str(exc), TRANSIENT_EXIT_CODE)
    except typer.Exit:
        raise
    except Exception as exc:  # hera's HTTP errors (4xx: the server refused the Workflow)
        _fail(f"the Argo Server refused {name}: {exc}", 1)


@group.command("run-local")
def run_local_command(
    name: Annotated[str, typer.Argument(help="Workflow to run here (see `leadscore workflows list`).")],
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outputs and timeline as one JSON object.")] = False,
) -> None:
    """Run NAME's steps here as subprocesses, in DAG order, with the same parameters."""
    import time

    from workflows import catalog
    from workflows.local import Event, LocalRun, StepFailed

    try:
        values = catalog.resolve_params(name, catalog.parse_params(param or []))
        spec = catalog.template(name)["spec"]
    except (catalog.UnknownWorkflow, catalog.BadParameter) as exc:
        _fail(str(exc))
    started = time.time()

    def show(event: Event) -> None:
        extra = " ".join(f"{k}={v}" for k, v in event.outputs.items())
        err.print(f"[{event.at - started:7.1f}s] {name}/{event.step}: {event.status} {extra}".rstrip())

    run = LocalRun(spec, values, f"{name}-local", on_event=show)
    try:
        outputs = run.run()
    except StepFailed as exc:
        _fail(f"{name}: {exc}", 1)
    timeline = [{"at": round(e.at - started, 1), "step": e.step, "status": e.status, **e.outputs} for e in run.events]
    if as_json:
        typer.echo(json.dumps({"workflow": name, "outputs": outputs, "timeline": timeline}))
    else:
        typer.echo(json.dumps(outputs))


@group.command("exit-report", hidden=True)
def exit_report_command(
    name: Annotated[str, typer.Option()],
    status: Annotated[str, typer.Option()],
    failures: Annotated[str, typer.Option()] = "",
) -> None:
    """The exit handler's body: one JSON line with the outcome (non-zero never: it only reports)."""
    record = {"workflow": name, "status": status, "failures": failures}
    print(json.dumps(record), file=sys.stdout if status == "Succeeded" else sys.stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="workflows")
