"""``leadscore batch score``: the champion scores the gold leads (PySpark) -> Delta + CRM upsert."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

group = typer.Typer(help="Batch scoring of the gold leads with the champion.", no_args_is_help=True)


@group.command("score")
def score_command(
    lake: Annotated[
        str | None,
        typer.Option(
            help="Lake root: a local path or s3://bucket/prefix (default LEADSCORE_LAKE, else $LEADSCORE_HOME/lake)."
        ),
    ] = None,
    dsn: Annotated[str | None, typer.Option(help="CRM PostgreSQL DSN (default LEADSCORE_CRM_DSN).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score gold/lead_features with the champion; write gold/lead_scores and upsert the CRM's lead_scores."""
    import psycopg

    from leadscore.batch.score import BatchError, run
    from leadscore.crm.db import CrmSettings, redact
    from leadscore_core.settings import HomeSettings
    from leadscore_core.storage import StorageUnreachable, StorageUriError
    from leadscore_core.workflows import TRANSIENT_EXIT_CODE
    from training.errors import RegistryError

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    target = dsn or CrmSettings().crm_dsn
    try:
        report = run(lake or HomeSettings().lake, target)
    except (BatchError, StorageUriError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except StorageUnreachable as exc:  # transient: the workflows retry this exit code; nothing was written
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(TRANSIENT_EXIT_CODE) from None
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(TRANSIENT_EXIT_CODE if "not reachable" in str(exc) else 3) from None
    except psycopg.OperationalError as exc:
        err.print(f"[bold red]error:[/] CRM database unreachable at {redact(target)}: {str(exc).strip()[:300]}")
        raise typer.Exit(TRANSIENT_EXIT_CODE) from None
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        Console().print(
            f"scored {report.rows:,} leads with v{report.model_version} (gold v{report.gold_version}) -> "
            f"{report.delta_table} v{report.delta_version}, CRM {report.crm_rows:,} rows upserted "
            f"({report.seconds:.0f}s)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="batch")
