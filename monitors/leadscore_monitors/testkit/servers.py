"""A monitor component (``python -m leadscore_monitors <component>``) as a real process on 127.0.0.1.

The interpreter is the one running the caller (the monitors env: tests and bench both run with it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port nothing listens on right now (127.0.0.1)."""
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
        """Start the process and wait until ``/healthz`` answers 200; raises with the log tail otherwise."""
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "leadscore_monitors", self.component],
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
        """SIGTERM the process group (SIGKILL after 20 s)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.url}/stats", timeout=30.0).json()
        return stats

    def flush(self) -> None:
        httpx.post(f"{self.url}/flush", timeout=60.0).raise_for_status()

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10.0).text
