"""Monitor benchmarks (not a test): durable ingest rate per core, and time to judge a 5,000-lead window.

Run with the monitors env from the repo root:

    monitors/.venv/bin/python bench/monitors.py [--events 4000] [--concurrency 32] [--json]

1. Ingest: each consumer (drift detector, inference-log sink) runs as a real server on 127.0.0.1 with
   ``MONITOR_SQLITE_SYNCHRONOUS=FULL`` (acknowledged = fsynced); a client posts pre-built KServe logger
   CloudEvents (V2 request/response pairs, one lead each). Reported: events/s wall clock and events per
   CPU-second of the server process (= per core, since a consumer is one process with one writer).
2. Window: ``DriftDetector.predict`` on 5,000 leads already encoded on arrival, median of 5, per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "monitors"))

from conftest import Server, scored_pairs  # noqa: E402
from synth import make_artifact, make_records  # noqa: E402

from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE  # noqa: E402
from leadscore_monitors.cloudevent import logger_event  # noqa: E402


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


def ingest(component: str, env: dict[str, str], events: list, concurrency: int, log: Path) -> dict[str, float]:
    server = Server(component, {**env, "MONITOR_SQLITE_SYNCHRONOUS": "FULL"}, log).start()
    try:
        assert server.proc is not None
        asyncio.run(post_all(server.url, events[:200], concurrency))  # warm-up (not counted)
        cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
        ok = asyncio.run(post_all(server.url, events[200:], concurrency))
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
        recorded = server.stats()["counters"]["recorded"]
    finally:
        server.stop()
    n = len(events) - 200
    return {
        "events": n,
        "acknowledged": ok,
        "recorded_total": recorded,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        "events_per_s": round(n / wall, 1),
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
    p.add_argument("--events", type=int, default=4000, help="events per consumer (request + response = 2 per lead)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitors-"))
    artifact = make_artifact(tmp / "model", seed=0)
    events = build_events(artifact, (a.events + 200) // 2)
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
                a.concurrency,
                tmp / "drift.log",
            ),
            "inference-log": ingest(
                "sink",
                {"MONITOR_STATE_DIR": str(tmp / "s"), "MONITOR_TABLE_URI": str(tmp / "inference_log")},
                events,
                a.concurrency,
                tmp / "sink.log",
            ),
        },
        "window_5000": {b: window_eval(artifact, b) for b in ("alibi", "evidently")},
    }
    print(json.dumps(result, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
