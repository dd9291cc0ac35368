"""Monitor benchmarks (not a test): durable ingest rate per core, and time to judge a 5,000-lead window.

Run with the monitors env from the repo root (needs ``wrk``: ``apt-get install -y wrk``):

    monitors/.venv/bin/python bench/monitors.py [--events 50000] [--duration 6] [--concurrency 32] [--json]

1. Ingest: each consumer (drift detector, inference-log sink) runs as a real server on 127.0.0.1, pinned
   to core 0 (``taskset -c 0``), with ``MONITOR_SQLITE_SYNCHRONOUS=FULL`` (acknowledged = fsynced).
   ``wrk`` on core 1 posts pre-built KServe logger CloudEvents (binary mode, V2 request/response pairs of
   one lead each, every event a distinct ce-id) for ``--duration`` seconds after a warm-up; wrk replays
   the list from the start only if it runs out, and those re-sends are reported as duplicates. Reported:
   events/s on the one core (wall clock), events per CPU-second of the server process, latency
   percentiles, and the server's own recorded/duplicate counters.
2. Window: ``DriftDetector.predict`` on 5,000 leads already encoded on arrival, median of 5, per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from wrk_run import RESULT_LUA, run_wrk

from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE
from leadscore_monitors.cloudevent import logger_event
from leadscore_monitors.testkit.events import scored_pairs
from leadscore_monitors.testkit.servers import Server
from leadscore_monitors.testkit.synth import make_artifact, make_records

SERVER_CPU, CLIENT_CPU = "0", "1"
LUA = (
    r"""
local reqs, i, sent = {}, 0, 0
init = function(args)
  local f = assert(io.open(os.getenv("EVENTS"), "rb"))
  local cur, mode = nil, nil
  for line in f:lines() do
    if line == "EVENT" then cur = {}; mode = "h"
    elseif mode == "h" and line == "BODY" then mode = "b"
    elseif mode == "h" then local k, v = line:match("^([^:]+): (.*)$"); cur[k] = v
    elseif mode == "b" then reqs[#reqs + 1] = wrk.format("POST", "/", cur, line); mode = nil end
  end
  f:close()
  i = tonumber(os.getenv("START") or "0")
end
request = function()
  i = i + 1; sent = sent + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""
    + RESULT_LUA
)


def write_events(path: Path, events: list[tuple[dict[str, str], bytes]]) -> None:
    with path.open("wb") as f:
        for headers, body in events:
            assert b"\n" not in body
            f.write(b"EVENT\n")
            for k, v in headers.items():
                f.write(f"{k}: {v}\n".encode())
            f.write(b"BODY\n" + body + b"\n")


def wrk(url: str, events_file: Path, start: int, seconds: int, concurrency: int, lua: Path) -> dict[str, float]:
    env = {"EVENTS": str(events_file), "START": str(start)}
    r = run_wrk(url, lua, concurrency=concurrency, seconds=seconds, cpu=CLIENT_CPU, env=env)
    return {
        "requests": r.requests,
        "seconds": r.seconds,
        "non_2xx": r.non_2xx,
        "socket_errors": r.socket_errors,
        "p50_ms": r.p50_ms,
        "p95_ms": r.p95_ms,
        "p99_ms": r.p99_ms,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_events(artifact: Path, n_pairs: int) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for ce_id, req, resp in scored_pairs(artifact, make_records(n_pairs, 99), batch=1):
        for ce_type, body in ((REQUEST_TYPE, req), (RESPONSE_TYPE, resp)):
            out.append(
                logger_event(
                    ce_type,
                    ce_id,
                    json.dumps(body).encode(),
                    source="http://localhost:9081/",
                    inferenceservicename="lead-scoring",
                    namespace="leadscore",
                )
            )
    return out


async def post_all(url: str, events: list[tuple[dict[str, str], bytes]], concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)
    ok = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:

        async def one(headers: dict[str, str], body: bytes) -> None:
            nonlocal ok
            async with sem:
                for _ in range(3):  # like the broker: a reset connection is retried (dedupe makes it safe)
                    try:
                        r = await client.post(url, headers=headers, content=body)
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                else:
                    return
                ok += r.status_code in (200, 202)

        await asyncio.gather(*(one(h, b) for h, b in events))
    return ok


def ingest(component: str, env: dict[str, str], events: list, args: argparse.Namespace, work: Path) -> dict[str, float]:
    events_file, lua = work / "events.txt", work / "events.lua"
    write_events(events_file, events)
    lua.write_text(LUA)
    log = work / f"{component}.log"
    server = Server(component, {**env, "MONITOR_SQLITE_SYNCHRONOUS": "FULL"}, log, ("taskset", "-c", SERVER_CPU))
    server.start()
    try:
        assert server.proc is not None
        warm = min(2000, len(events) // 10)
        asyncio.run(post_all(server.url, events[-warm:], args.concurrency))  # warm-up: the list's tail
        before = server.stats()["counters"]
        cpu0 = cpu_seconds(server.proc.pid)
        r = wrk(server.url + "/", events_file, 0, args.duration, args.concurrency, lua)
        cpu = cpu_seconds(server.proc.pid) - cpu0
        after = server.stats()["counters"]
    finally:
        server.stop()
    n = r["requests"]
    return {
        **r,
        "distinct_events_available": len(events) - warm,
        "resent": max(0, n - (len(events) - warm)),
        "recorded": after.get("recorded", 0) - before.get("recorded", 0),
        "duplicates": after.get("duplicated", 0) - before.get("duplicated", 0),
        "server_cpu_s": round(cpu, 3),
        "server_cores_used": round(cpu / r["seconds"], 2),
        "events_per_s": round(n / r["seconds"], 1),
        "events_per_cpu_s": round(n / cpu, 1) if cpu else float("nan"),
    }


def window_eval(artifact: Path, backend: str, n: int = 5000, repeat: int = 5) -> dict[str, float]:
    from leadscore_monitors.detectors.base import WindowData, build_detector
    from leadscore_monitors.reference import load_reference

    detector = build_detector(backend, load_reference(artifact))  # type: ignore[arg-type]
    matrix = detector.encode(make_records(n, 123))
    scores = [0.1] * n
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        detector.predict(WindowData(matrix=matrix, scores=scores))
        times.append(time.perf_counter() - t0)
    return {"leads": n, "median_ms": round(1000 * statistics.median(times), 1), "min_ms": round(1000 * min(times), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=50000, help="distinct events built (request + response per lead)")
    p.add_argument("--duration", type=int, default=6, help="seconds of measured wrk load per consumer")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitors-"))
    artifact = make_artifact(tmp / "model", seed=0)
    events = build_events(artifact, a.events // 2)
    result = {
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg()[0],
        "ingest": {
            "drift-detector": ingest(
                "drift",
                {
                    "MONITOR_MODEL_DIR": str(artifact),
                    "MONITOR_STATE_DIR": str(tmp / "d"),
                    "MONITOR_WINDOW_SIZE": "1000000",
                },
                events,
                a,
                tmp,
            ),
            "inference-log": ingest(
                "sink",
                {"MONITOR_STATE_DIR": str(tmp / "s"), "MONITOR_TABLE_URI": str(tmp / "inference_log")},
                events,
                a,
                tmp,
            ),
        },
        "window_5000": {b: window_eval(artifact, b) for b in ("alibi", "evidently")},
    }
    print(json.dumps(result, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
