"""Fixtures of the monitor tests: tiny real artifacts and real consumer servers on 127.0.0.1.

Run with the monitors env: ``monitors/.venv/bin/python -m pytest tests/monitors``. The helpers themselves
live in :mod:`leadscore_monitors.testkit` (imported as a package by the tests and by bench/monitors.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadscore_monitors.testkit.servers import Server
from leadscore_monitors.testkit.synth import make_artifact


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("models") / "prod", seed=0, version="1")


@pytest.fixture(scope="session")
def shadow_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("models") / "shadow", seed=3, version="2")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def make(component: str, **env: str) -> Server:
        s = Server(component, env, tmp_path / f"{component}-{len(started)}.log")
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()
