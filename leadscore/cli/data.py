"""``leadscore data``: synthetic CRM data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``data`` command group to the ``leadscore`` app."""
    data = typer.Typer(
        help="Synthetic CRM data (leads, web events, ground truth, score requests).", no_args_is_help=True
    )

    @data.command("example-export")
    def example_export_cmd(
        kind: Annotated[str, typer.Argument(help="web (one newest-first CSV) or agent (two CSVs + a label file).")],
        out: Annotated[Path, typer.Option(help="Output directory.")] = Path("export"),
        rows: Annotated[int, typer.Option(help="Leads.")] = 3000,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    ) -> None:
        """Write a small lead export shaped like the ones users bring, with its spec file (docs/new-schema.md)."""
        from leadscore.datagen.exports import write_agent_export, write_web_export

        writers = {"web": write_web_export, "agent": write_agent_export}
        if kind not in writers:
            raise typer.BadParameter(f"KIND must be web or agent, got {kind!r}")
        export = writers[kind](out, rows=rows, seed=seed)
        for path in [*export.files, export.spec_path]:
            typer.echo(str(path))

    @data.command("generate")
    def generate_cmd(
        rows: Annotated[int, typer.Option(help="Distinct leads to generate.")] = 20_000,
        seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
        out: Annotated[Path, typer.Option(help="Output directory.")] = Path("raw"),
        drift: Annotated[
            str | None,
            typer.Option(
                help="Drift knob: source_mix | engagement | concept, or several joined with '+' (source_mix+concept)."
            ),
        ] = None,
        drift_strength: Annotated[float, typer.Option(help="Drift strength (0 = none, 1 = full).")] = 0.5,
        start: Annotated[str, typer.Option(help="First creation date (ISO, UTC).")] = "2026-01-01",
        months: Annotated[int, typer.Option(help="Months of leads (>= 6).")] = 6,
        as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
    ) -> None:
        """Write leads.csv, web_events.jsonl, ground_truth.csv, score_requests.jsonl and manifest.json."""
        from rich.console import Console
        from rich.markup import escape

        from leadscore.datagen.generate import GenerateConfig, generate

        err = Console(stderr=True, soft_wrap=True)
        cfg = GenerateConfig(
            rows=rows, seed=seed, out=out, drift=drift, drift_strength=drift_strength, start=start, months=months
        )
        try:
            cfg.check()
        except ValueError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        with err.status(f"generating {rows:,} leads (seed {seed}) into {out} ..."):
            manifest = generate(cfg)
        if as_json:
            typer.echo(json.dumps(manifest))
            return
        con = Console()
        con.print(
            f"[green]wrote[/green] {out}: {manifest['lead_lines']:,} lead lines "
            f"({manifest['duplicates']:,} duplicates, {sum(manifest['malformed'].values()):,} malformed), "
            f"{manifest['event_lines']:,} event lines"
        )
        con.print(
            f"base rate {manifest['base_rate']:.3f}, oracle AUC {manifest['oracle_auc']:.3f}, "
            f"drift {manifest['drift'] or 'none'}"
        )

    app.add_typer(data, name="data")
