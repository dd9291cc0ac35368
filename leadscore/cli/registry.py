"""``leadscore registry list|promote|rollback|archive``: the lead-scoring model lifecycle."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from leadscore.cli._errors import friendly_errors

group = typer.Typer(help="Model registry: list versions, promote, roll back, archive.", no_args_is_help=True)


@group.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List versions with lifecycle, aliases, holdout AUC and the gate's reason."""
    from rich.console import Console
    from rich.table import Table

    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        reg = Registry()
        versions = reg.versions()
        if as_json:
            print(
                json.dumps(
                    {
                        "model_name": reg.name,
                        "versions": [{k: v for k, v in info.as_dict().items() if k != "tags"} for info in versions],
                    }
                )
            )
            return
        if not versions:
            Console().print(f"model {reg.name!r} has no versions yet: run `leadscore train`")
            return
        table = Table(title=reg.name, caption=reg.uri)
        for col in ("version", "lifecycle", "aliases", "holdout AUC", "gold"):
            table.add_column(col, no_wrap=True)
        table.add_column("created (UTC)", overflow="fold")
        table.add_column("gate / reason", overflow="fold", ratio=1)
        for info in versions:
            table.add_row(
                str(info.version),
                info.lifecycle,
                ",".join(info.aliases),
                f"{info.auc:.4f}" if info.auc else "",
                info.gold_version or "",
                info.created,
                f"{info.gate_decision or ''}: {info.reason or ''}".strip(": "),
            )
        Console().print(table)


@group.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Version number or alias (e.g. 3, challenger).")],
    to: Annotated[str | None, typer.Option("--to", help="Target stage (default: the next one).")] = None,
    traffic: Annotated[int | None, typer.Option(help="Canary traffic percent with --to canary (10/50/100).")] = None,
    why: Annotated[str, typer.Option(help="Why (kept in the version's history).")] = "promoted by operator",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Move a version one step: development -> staging -> shadow -> canary 10/50/100 -> production.

    Staging admits only versions the promotion gate passed. Entering shadow, canary or production publishes
    the version once to its immutable storage (<model store>/<model>/v<N>; LEADSCORE_DELIVERY_MODEL_STORE).
    """
    from leadscore.delivery.publish import publisher
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        reg = Registry()
        result = reg.promote(version, to, traffic=traffic, why=why, publish=publisher(reg))
        _report(
            result,
            as_json,
            f"v{result['version']}: {result['from']} -> {result['to']} (alias {result['alias']})"
            + (f"; v{result['archived']} archived" if result["archived"] else "")
            + (f"; storage {result['storage_uri']}" if result["storage_uri"] else ""),
        )


@group.command("publish")
def publish_command(
    version: Annotated[str, typer.Argument(help="Version number or alias (e.g. champion).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Publish a served version (e.g. the bootstrap champion) to <model store>/<model>/v<N>, write-once."""
    from leadscore.delivery.publish import publisher
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        reg = Registry()
        uri = reg.record_storage(version, publisher(reg))
        _report({"version": version, "storage_uri": uri}, as_json, f"{version}: published at {uri}")


@group.command("history")
def history_command(
    version: Annotated[str, typer.Argument(help="Version number or alias.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every lifecycle transition of a version: when, who, from, to, why (and the evidence with --json)."""
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        entries = Registry().history(version)
        if as_json:
            print(json.dumps([e.as_dict() for e in entries]))
            return
        for e in entries:
            typer.echo(f"{e.seq:3} {e.at} {e.who:12} {e.from_state:>14} -> {e.to_state:<14} {e.why}")


@group.command("rollback")
def rollback_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Move the champion alias back to the production version the current champion replaced."""
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        result = Registry().rollback()
        _report(result, as_json, f"champion rolled back: v{result['from_version']} -> v{result['to_version']}")


@group.command("archive")
def archive_command(
    version: Annotated[str, typer.Argument(help="Version number or alias.")],
    reason: Annotated[str, typer.Option(help="Why (stored as a tag).")] = "archived by operator",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Retire a candidate version (the champion is archived only by replacement or rollback)."""
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        result = Registry().archive(version, reason)
        _report(result, as_json, f"v{result['version']}: {result['from']} -> archived")


@group.command("fetch")
def fetch_command(
    version: Annotated[str, typer.Argument(help="Version number or alias (e.g. champion).")],
    out: Annotated[str | None, typer.Option("--out", help="Copy the artifact directory here.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Download a version's leadscore artifact (manifest, booster, drift reference)."""
    import shutil
    from pathlib import Path

    from leadscore.registry.registry import fetch_artifact

    with friendly_errors(as_json):
        path = fetch_artifact(version)
        if out:
            shutil.copytree(path, Path(out), dirs_exist_ok=True)
            path = Path(out)
        _report({"version": version, "path": str(path)}, as_json, f"{version}: {path}")


def _report(result: dict, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        from rich.console import Console

        Console().print(text, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="registry")
