"""``leadscore pipeline``: the PySpark medallion (bronze/silver/gold Delta tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from leadscore_core.lake import GOLD_FEATURES

LAKE_HELP = "Lake root: a local path or s3://bucket/prefix (unset or empty: LEADSCORE_LAKE, else $LEADSCORE_HOME/lake)."


def register(app: typer.Typer) -> None:
    """Attach the ``pipeline`` command group to the ``leadscore`` app."""
    pipeline = typer.Typer(
        help="Medallion pipeline: CRM/files/CSV -> bronze -> silver -> gold (Delta).", no_args_is_help=True
    )

    @pipeline.command("run")
    def run_cmd(
        path: Annotated[Path | None, typer.Argument(help="Directory (--source files) or CSV (--source csv).")] = None,
        source: Annotated[str, typer.Option(help="crm | files DIR | csv PATH (or files:DIR / csv:PATH).")] = "crm",
        spec: Annotated[str, typer.Option(help="Feature spec name or YAML path.")] = "crm_freezone",
        lake: Annotated[str | None, typer.Option(help=LAKE_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
    ) -> None:
        """Ingest new rows, validate, dedupe, build point-in-time gold; print counts and Delta versions."""
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from leadscore.crm.db import CrmUnavailable
        from leadscore.lakehouse.bronze import SchemaError
        from leadscore.lakehouse.job import run
        from leadscore.lakehouse.quality import GateError
        from leadscore_core.storage import StorageUnreachable

        err = Console(stderr=True, soft_wrap=True)
        if path is None and source.partition(":")[0] in ("files", "csv") and ":" in source:
            source, _, where = source.partition(":")  # one workflow parameter carries source and path
            path = Path(where)
        try:
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
            ) as progress:
                task = progress.add_task("pipeline", total=None)
                report = run(spec, source, path, lake or None, step=lambda msg: progress.update(task, description=msg))
        except (CrmUnavailable, StorageUnreachable) as exc:  # transient: the workflows retry this exit code
            from leadscore_core.workflows import TRANSIENT_EXIT_CODE

            err.print(f"[red]error:[/red] {escape(str(exc))}")
            if as_json:
                typer.echo(json.dumps({"status": "failed", "error": str(exc)}))
            raise typer.Exit(TRANSIENT_EXIT_CODE) from None
        except GateError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            if exc.report is not None:
                if as_json:  # the whole run record: failed_gate, top_reasons (counts, example rows), counts
                    typer.echo(json.dumps(exc.report.to_json(), default=str))
                else:
                    exc.report.print(Console(width=max(Console().width, 120), stderr=True))
            raise typer.Exit(1) from None
        except (SchemaError, FileNotFoundError, ValueError) as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            if as_json:
                typer.echo(json.dumps({"status": "failed", "error": str(exc)}))
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps(report.to_json(), default=str))
        else:
            report.print(Console(width=max(Console().width, 120)))

    @pipeline.command("history")
    def history_cmd(
        table: Annotated[str, typer.Argument(help="Table, e.g. gold/lead_features.")] = GOLD_FEATURES,
        lake: Annotated[str | None, typer.Option(help=LAKE_HELP)] = None,
    ) -> None:
        """Delta history (versions) of one lake table."""
        from leadscore.lakehouse.settings import PipelineSettings
        from leadscore.objectstore import ObjectStore

        store = ObjectStore(lake if lake is not None else PipelineSettings().lake)
        with store.errors(f"reading the history of {table}"):
            history = store.delta(table).history()
        for entry in history:
            typer.echo(json.dumps(entry, default=str))

    app.add_typer(pipeline, name="pipeline")
