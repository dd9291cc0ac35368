"""``leadscore crm``: the PostgreSQL CRM (``LEADSCORE_CRM_DSN``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``crm`` command group to the ``leadscore`` app."""
    crm = typer.Typer(help="PostgreSQL CRM: load raw exports (LEADSCORE_CRM_DSN).", no_args_is_help=True)

    @crm.command("load")
    def load_cmd(
        src: Annotated[Path, typer.Option("--from", help="Directory from `leadscore data generate`.")],
        spec: Annotated[str, typer.Option(help="Feature spec name or YAML path.")] = "crm_freezone",
        replace: Annotated[bool, typer.Option(help="Empty the CRM tables first.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the load report as JSON.")] = False,
    ) -> None:
        """Load leads.csv, web_events.jsonl and ground_truth.csv into the CRM tables with COPY."""
        from dataclasses import asdict

        from rich.console import Console
        from rich.markup import escape

        from leadscore.crm.db import CrmSettings, CrmUnavailable, connect, redact
        from leadscore.crm.load import load_dir
        from leadscore_core.contract import load_spec

        err = Console(stderr=True, soft_wrap=True)
        settings = CrmSettings()
        try:
            contract = load_spec(spec)
            with connect(settings) as conn, err.status(f"loading {src} into {redact(settings.crm_dsn)} ..."):
                report = load_dir(conn, contract, src, replace=replace)
        except (CrmUnavailable, FileNotFoundError, ValueError) as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps(asdict(report)))
            return
        con = Console()
        con.print(
            f"[green]loaded[/green] into {redact(settings.crm_dsn)}: leads {report.leads:,}, "
            f"leads_rejected {report.rejected:,}, web_events {report.events:,}, "
            f"ground_truth {report.ground_truth:,}"
        )
        for reason, n in report.rejected_reasons.items():
            con.print(f"  rejected: {n:,} x {reason}")
        for path in report.skipped:
            con.print(f"  [yellow]skipped[/yellow] {path}: this exact file was loaded before (use --replace)")

    app.add_typer(crm, name="crm")
