"""Fixtures of the monitor tests: tiny real artifacts, real consumer servers on 127.0.0.1, event helpers.

Run with the monitors env: ``monitors/.venv/bin/python -m pytest tests/monitors``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from synth import make_artifact, make_records

from leadscore_monitors.cloudevent import logger_event

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = ROOT / "monitors" / ".venv" / "bin" / "python"


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("models") / "prod", seed=0, version="1")


@pytest.fixture(scope="session")
def shadow_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("models") / "shadow", seed=3, version="2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A monitor component running as a real process (own process group) on 127.0.0.1."""

    def __init__(self, component: str, env: dict[str, str], log: Path, prefix: tuple[str, ...] = ()) -> None:
        self.component = component
        self.prefix = prefix
        """Command words before the interpreter, e.g. ``("taskset", "-c", "0")`` (benchmarks)."""
        self.port = free_port()
        self.env = {**os.environ, **env, "MONITOR_HOST": "127.0.0.1", "MONITOR_PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> Server:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*self.prefix, str(PYTHON), "-m", "leadscore_monitors", self.component],
            env=self.env,
            stdout=fh,
            stderr=fh,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.component} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.component} did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the process group: no shutdown hook runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/stats", timeout=30.0).json()

    def flush(self) -> None:
        httpx.post(f"{self.url}/flush", timeout=60.0).raise_for_status()

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10.0).text


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


def post_event(client: httpx.Client, url: str, ce_type: str, ce_id: str, body: Any, **ext: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers, data = logger_event(
        ce_type,
        ce_id,
        raw,
        source="http://localhost:9081/",
        inferenceservicename="lead-scoring",
        namespace="leadscore",
        **ext,
    )
    return client.post(url, headers=headers, content=data)


def scored_pairs(artifact: Path, records: list[dict[str, Any]], batch: int = 1) -> list[tuple[str, dict, dict]]:
    """(ce_id, V2 request, V2 response) per batch of records, scored for real by the artifact."""
    from leadscore_core.artifact import LeadScorer
    from leadscore_monitors.v2 import v2_request, v2_response

    scorer = LeadScorer(artifact).load()
    assert scorer.encoder is not None
    out = []
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        keys = [f"key-{uuid.uuid4().hex[:12]}" for _ in chunk]
        req = v2_request(scorer.encoder, chunk, keys)
        out.append((str(uuid.uuid4()), req, v2_response(scorer, req)))
    return out


__all__ = ["make_records", "post_event", "scored_pairs"]
