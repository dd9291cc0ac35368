"""``leadscore train``: tune, evaluate, log and register a model from a pinned gold Delta version."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from leadscore.cli._errors import friendly_errors
from leadscore_core.lake import GOLD_FEATURES


def train_command(
    lake: Annotated[
        str | None,
        typer.Option(
            help="Lake root: a local path or s3://bucket/prefix (default LEADSCORE_LAKE, else $LEADSCORE_HOME/lake)."
        ),
    ] = None,
    table: Annotated[str, typer.Option(help="Gold table path inside the lake.")] = GOLD_FEATURES,
    version: Annotated[int | None, typer.Option("--version", help="Delta version to pin (default: latest).")] = None,
    gold_version: Annotated[
        str | None, typer.Option("--gold-version", help="Like --version; also accepts 'latest' (workflows).")
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            help="Feature spec (name or YAML) to check against the one gold records (default: the recorded one)."
        ),
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Optuna trials (default 50, TRAINING_TRIALS).")] = None,
    holdout: Annotated[float | None, typer.Option(help="Share of latest leads held out (default 0.2).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for TPE, XGBoost and sampling (default 42).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the result.")] = False,
    outputs_dir: Annotated[
        Path | None, typer.Option(help="Also write run_id, model_version, gate_decision files here (Argo outputs).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Retrain reason recorded on the run (drift|schedule|...).")] = None,
    evidence: Annotated[str | None, typer.Option(help="What triggered the retrain, recorded on the run.")] = None,
) -> None:
    """Train an Optuna-tuned, calibrated XGBoost model and register it behind the promotion gate."""
    # before xgboost loads libgomp: idle OpenMP threads sleep instead of spinning on shared cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from leadscore_core.settings import HomeSettings
    from leadscore_core.storage import StorageUri
    from training.settings import TrainingSettings
    from training.train import TrainRequest, train

    with friendly_errors(as_json):
        home = HomeSettings()
        settings = TrainingSettings()
        request = TrainRequest(
            lake=StorageUri.parse(lake) if lake else home.lake,
            table=table,
            version=_pinned(version, gold_version),
            spec=spec,
            trials=trials,
            holdout=holdout,
            seed=seed,
            run_tags=_retrain_tags(reason, evidence),
        )
        if request.trials is not None and request.trials < 1:
            raise typer.BadParameter("--trials must be >= 1")
        if request.holdout is not None and not 0.0 < request.holdout < 0.9:
            raise typer.BadParameter("--holdout must be in (0, 0.9)")
        sink = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        with sink:
            result = train(request, settings, home)
        if outputs_dir is not None:
            _write_outputs(outputs_dir, result)
        if as_json:
            print(json.dumps(result, default=str))
        else:
            _print_summary(result)


def _pinned(version: int | None, gold_version: str | None) -> int | None:
    if gold_version is None or gold_version.strip().lower() in ("", "latest"):
        return version
    try:
        return int(gold_version)
    except ValueError:
        raise typer.BadParameter(
            f"--gold-version must be 'latest' or a Delta version number, got {gold_version!r}"
        ) from None


def _retrain_tags(reason: str | None, evidence: str | None) -> dict[str, str]:
    from leadscore_core.workflows import MAX_EVIDENCE_CHARS, RETRAIN_REASONS

    if reason is None:
        return {}
    if reason not in RETRAIN_REASONS:
        raise typer.BadParameter(f"--reason must be one of {', '.join(RETRAIN_REASONS)}, got {reason!r}")
    return {"retrain_reason": reason, "retrain_evidence": (evidence or "")[:MAX_EVIDENCE_CHARS]}


def _write_outputs(directory: Path, result: dict) -> None:
    """One file per Argo output parameter (``valueFrom.path``)."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "run_id": result["run_id"],
        "model_version": str(result["version"]),
        "gate_decision": result["gate"]["decision"],
    }
    for key, value in values.items():
        (directory / key).write_text(str(value))


def _print_summary(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{result['model_name']} v{result['version']} ({result['lifecycle']})")
    table.add_column("metric")
    table.add_column("holdout", justify="right")
    for key, value in result["metrics"].items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    gate = result["gate"]
    console.print(f"gate: [bold]{gate['decision']}[/] - {gate['reason']}", highlight=False)
    console.print(f"run {result['run_id']}  gold {result['gold_table']}@v{result['gold_version']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
