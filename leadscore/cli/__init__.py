"""The ``leadscore`` command: the user's entry point (typer + rich).

Each command group lives in its own module exposing ``register(app)``; nothing heavy is imported
until a command runs, so ``leadscore --help`` stays fast and import-time side effects stay out.
"""

from __future__ import annotations

import importlib

import typer

# command group -> module; `serve` and `monitor` drive the local-only dev stack (leadscore.local)
GROUPS = {
    "data": "leadscore.cli.data",
    "crm": "leadscore.cli.crm",
    "pipeline": "leadscore.cli.pipeline",
    "train": "leadscore.cli.train",
    "registry": "leadscore.cli.registry",
    "canary": "leadscore.cli.canary",
    "workflows": "leadscore.cli.workflows",
    "retrain": "leadscore.cli.retrain",
    "batch": "leadscore.cli.batch",
    "serve": "leadscore.local.serve",
    "monitor": "leadscore.local.monitor",
}


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="leadscore",
        help="Lead scoring platform: data, training, registry, serving and monitoring.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    for module_name in GROUPS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # group not built yet
            raise
        module.register(app)
    return app


def main() -> None:
    build_app()()
