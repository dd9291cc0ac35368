"""``leadscore monitor``: replay traffic through the monitors, scheduled analysis, outcome feedback.

The monitors have their own image/env (alibi-detect, evidently): this tools-env command resolves the
model artifacts (registry aliases need MLflow, which lives here) and runs
``monitors/.venv/bin/python -m leadscore_monitors ...``; it never imports alibi-detect itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from leadscore.local.envs import EnvironmentMissing, env_python
from leadscore.local.serve import resolve_model


def _monitors_python() -> Path:
    try:
        return env_python("monitors")
    except EnvironmentMissing as exc:
        typer.echo(f"{exc}; create it with `make envs`", err=True)
        raise typer.Exit(2) from None


def _artifact(model_dir: Path | None, alias: str) -> Path:
    """The artifact directory: ``--model-dir`` or the registry ``alias`` (:mod:`leadscore.local.serve`)."""
    try:
        return resolve_model(model_dir, alias)[0]
    except typer.BadParameter as exc:
        typer.echo(
            f"no model to take the drift reference from: {exc.message}; train one (`leadscore train`)",
            err=True,
        )
        raise typer.Exit(2 if model_dir is not None else 3) from None


def _run(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    code = subprocess.call([str(_monitors_python()), "-m", "leadscore_monitors", *args], env=env)
    if code:
        raise typer.Exit(code)


def replay_command(
    src: Annotated[Path, typer.Option("--from", help="Directory written by `leadscore data generate`.")],
    serve_url: Annotated[
        str | None, typer.Option(help="Serving base URL (default: the running `leadscore serve`, else in-process).")
    ] = None,
    window: Annotated[int, typer.Option(help="Leads per drift window (0: all traffic in one window).")] = 0,
    model_dir: Annotated[Path | None, typer.Option(help="Model artifact dir (default: registry champion).")] = None,
    alias: Annotated[str, typer.Option(help="Registry alias of the reference model.")] = "champion",
    shadow: Annotated[
        str | None, typer.Option(help="Registry alias/version or artifact dir of a shadow model to compare.")
    ] = None,
    backend: Annotated[str, typer.Option(help="alibi (default) or evidently.")] = "alibi",
    in_process: Annotated[bool, typer.Option(help="Score in-process even when a server is running.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON object.")] = False,
) -> None:
    """Send generated CRM traffic through the serving path and the monitors; print one JSON summary."""
    args = [
        "replay",
        "--from",
        str(src),
        "--model-dir",
        str(_artifact(model_dir, alias)),
        "--backend",
        backend,
        "--window",
        str(window),
    ]
    if serve_url:
        args += ["--serve-url", serve_url]
    if in_process:
        args.append("--in-process")
    if shadow:
        shadow_path = Path(shadow)
        args += ["--shadow-model-dir", str(shadow_path if shadow_path.exists() else _artifact(None, shadow))]
    if as_json:
        args.append("--json")
    _run(args)


def analyze_command(
    job: Annotated[str, typer.Argument(help="daily (PSI/KL), weekly (evidently report) or hourly (feature stats).")],
    model_dir: Annotated[Path | None, typer.Option(help="Model artifact dir (default: registry champion).")] = None,
    alias: Annotated[str, typer.Option(help="Registry alias of the reference model.")] = "champion",
    table_uri: Annotated[str | None, typer.Option(help="Inference log (default $LEADSCORE_HOME/lake/...).")] = None,
    date: Annotated[str | None, typer.Option(help="Day (daily) / last day of the week (weekly), YYYY-MM-DD.")] = None,
) -> None:
    """Scheduled analysis over the Delta inference log (one JSON object on stdout)."""
    args = ["analyze", job, "--model-dir", str(_artifact(model_dir, alias))]
    if table_uri:
        args += ["--table-uri", table_uri]
    if date:
        args += ["--date", date]
    _run(args)


def outcome_command(
    dsn: Annotated[str | None, typer.Option(help="CRM PostgreSQL DSN (default LEADSCORE_CRM_DSN / local).")] = None,
    table_uri: Annotated[str | None, typer.Option(help="Inference log (default $LEADSCORE_HOME/lake/...).")] = None,
    trigger_url: Annotated[str | None, typer.Option(help="Retrain trigger URL to notify on a business signal.")] = None,
    report_url: Annotated[
        str | None, typer.Option(help="outcome-metrics consumer (or broker) URL the report event is posted to.")
    ] = None,
    model_dir: Annotated[
        Path | None, typer.Option(help="Serving artifact: judge concept drift against its holdout AUC.")
    ] = None,
) -> None:
    """Join CRM conversions to logged scores: realised AUC, conversion by tier, conversion-drop signal."""
    args = ["outcome"]
    dsn = dsn or os.environ.get("LEADSCORE_CRM_DSN")
    if dsn:
        args += ["--dsn", dsn]
    if table_uri:
        args += ["--table-uri", table_uri]
    if trigger_url:
        args += ["--trigger-url", trigger_url]
    if report_url:
        args += ["--report-url", report_url]
    if model_dir:
        args += ["--model-dir", str(_artifact(model_dir, "champion"))]
    _run(args)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Payload-log monitoring: drift replay, scheduled analysis, outcome feedback.", no_args_is_help=True
    )
    group.command("replay")(replay_command)
    group.command("analyze")(analyze_command)
    group.command("outcome")(outcome_command)
    app.add_typer(group, name="monitor")
