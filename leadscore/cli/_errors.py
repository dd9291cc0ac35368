"""Shared CLI error handling for the training and registry commands: messages, never tracebacks."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import typer
from rich.console import Console


@contextlib.contextmanager
def friendly_errors(as_json: bool) -> Iterator[None]:
    """Print known failures as one line (and one JSON object with ``--json``); exit non-zero."""
    from leadscore_core.storage import StorageUnreachable, StorageUriError
    from leadscore_core.workflows import TRANSIENT_EXIT_CODE
    from training.errors import RegistryError, TrainingError

    err = Console(stderr=True)
    try:
        yield
    except (TrainingError, RegistryError) as exc:
        _fail(err, str(exc), as_json, _code(exc))
    except StorageUnreachable as exc:  # transient: the workflows retry this exit code
        _fail(err, str(exc), as_json, TRANSIENT_EXIT_CODE)
    except StorageUriError as exc:
        _fail(err, str(exc), as_json, 2)
    except KeyboardInterrupt:
        _fail(err, "interrupted; nothing was registered", as_json, 130)
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("LEADSCORE_DEBUG"):
            raise
        _fail(err, f"unexpected {type(exc).__name__}: {exc} (set LEADSCORE_DEBUG=1 for the traceback)", as_json, 1)


def _code(exc: Exception) -> int:
    """2 bad input, 3 registry refusal, TRANSIENT_EXIT_CODE (75) a dependency unreachable (workflows retry it)."""
    from leadscore_core.workflows import TRANSIENT_EXIT_CODE
    from training.errors import TrainingError

    if isinstance(exc, TrainingError):
        return 2
    return TRANSIENT_EXIT_CODE if "not reachable" in str(exc) else 3


def _fail(err: Console, message: str, as_json: bool, code: int) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps({"error": message}))
    raise typer.Exit(code)
