"""Fixtures of the storage tests: an S3 API emulator (moto's server mode) on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def s3_emulator(tmp_path: Path, port_factory: Callable[[], int], wait_for_port: Callable[..., None]) -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1; its URL."""
    port = port_factory()
    log = (tmp_path / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
