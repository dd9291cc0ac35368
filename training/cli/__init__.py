"""The ``leadscore`` command: the user's entry point (typer + rich).

Each command group lives in its own module exposing ``register(app)``; nothing heavy is imported
until a command runs, so ``leadscore --help`` stays fast and import-time side effects stay out.
"""

from __future__ import annotations

import importlib

import typer

GROUPS = ("data", "crm", "pipeline", "train", "registry", "serve", "monitor")


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="leadscore",
        help="Lead scoring platform: data, training, registry, serving and monitoring.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    for name in GROUPS:
        try:
            module = importlib.import_module(f"training.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"training.cli.{name}":
                continue  # group not built yet
            raise
        module.register(app)
    return app


def main() -> None:
    build_app()()
