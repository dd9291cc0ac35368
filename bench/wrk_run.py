"""Driving ``wrk`` for the HTTP benchmarks: one pinned load-generator thread, results parsed from Lua.

``RESULT_LUA`` is appended to a benchmark's own Lua script; its ``done`` hook prints one ``RESULT`` line
that :func:`run_wrk` turns into a :class:`WrkResult`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

RESULT_LUA = r"""
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("RESULT %d %d %d %d %.3f %.3f %.3f\n", s.requests, s.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    url: str, lua: Path, *, concurrency: int, seconds: int, cpu: str, env: dict[str, str] | None = None
) -> WrkResult:
    """``wrk -t1`` pinned to ``cpu`` with ``concurrency`` keep-alive connections for ``seconds``."""
    cmd = [
        "taskset",
        "-c",
        cpu,
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    n, dur_us, status, sock, p50, p95, p99 = line.split()[1:]
    return WrkResult(int(n), int(dur_us) / 1e6, int(status), int(sock), float(p50), float(p95), float(p99))
