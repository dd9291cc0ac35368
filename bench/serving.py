"""Serving benchmark (not a test): rps and p50/p95/p99 at concurrency 1/8/32, side by side in one run.

Setups, each server pinned to core 0 (``taskset -c 0``, OMP_NUM_THREADS=1) and wrk pinned to core 1,
HTTP/1.1 keep-alive on 127.0.0.1, closed loop:

- ``deployed``: exactly what manifests/serving deploys, its payload events flowing: the predictor with the
  environment of the ServingRuntime + InferenceService manifests (read from the YAML), serving ``/score-lead``
  with JWT auth (a signed token in every request), the Redis rate limit (the local Redis at 127.0.0.1:6379 in
  place of the cluster's; the limit itself set out of the load generator's reach) and its in-process
  CloudEvents posted to a REAL consumer, the monitors' inference-log sink (``python -m leadscore_monitors
  sink``, monitors env), which runs **on the client's core (core 1) beside wrk**: two cores allow no other
  place. It runs there at the lowest CPU priority (``nice -n 19``), so that wrk, whose clock is the
  measurement, is not kept waiting by the consumer (in a cluster the broker is not on the client's machine);
  its CPU is reported apart and not counted as server CPU. After each cell the bench waits for the event
  queue to drain, counts the server CPU spent meanwhile in the cell (the events of the cell's calls are the
  cell's cost, even when the consumer lags), and reconciles: events recorded by the sink == 2 x calls served
  - counted drops;
- ``deployed-noevents``: the same without a sink (no events): the difference is the event path's CPU;

- ``a-transformer``: full ``POST /score-lead`` through the kserve transformer -> MLServer predictor hop
  (both processes share core 0), the cluster design;
- ``a-transformer-split``: the same hop in the cluster's shape as far as two cores allow: the transformer alone
  on core 0, the predictor on core 1 *beside wrk* (so its figures are a floor for separate pods);
- ``a-merged``: full ``POST /score-lead`` served by the predictor's MLServer custom handler (one process),
  default path attributions; ``a-merged-exact`` the same with exact TreeSHAP reasons
  (``PREDICTOR_REASONS=exact``);
- ``b-predictor``: our MLServer runtime alone, V2 infer with ``explain`` (probability, tier, contributions);
- ``c-default`` / ``c-tuned``: stock ``mlserver-xgboost`` 1.7.1 serving the same booster (V2, predict_proba)
  at MLServer defaults and tuned (parallel workers 0, debug off, httptools), from scratch venvs under
  ``$LEADSCORE_HOME/bench`` (never in the predictor image).

Usage (repo root, root env; needs ``wrk`` and ``uv sync`` in both model_server projects)::

    uv run python bench/serving.py [--duration 15] [--warmup 3] [--concurrency 1,8,32] [--setups ...]
    uv run python bench/serving.py --concurrency 1,8,32 --setups deployed,deployed-noevents,c-tuned,c-default

Every started server is killed by process group. Results: a markdown table on stdout and JSON in
``bench/results/serving-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]

from wrk_run import RESULT_LUA, run_wrk  # noqa: E402

from leadscore.local.serve import (  # noqa: E402
    Proc,
    free_port,
    start_predictor,
    start_transformer,
    stop_group,
    wait_ready,
)
from leadscore_core.testkit import make_artifact, sample_lead  # noqa: E402

SERVER_CPU = "0"
CLIENT_CPU = "1"
NO_LIMIT = {"PREDICTOR_RATE_LIMIT": "1000000/second", "TRANSFORMER_RATE_LIMIT": "1000000/second"}
LUA = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY"), "rb"); wrk.body = f:read("*a"); f:close()
local auth = os.getenv("AUTH") or ""
if auth ~= "" then wrk.headers["Authorization"] = auth end
"""
    + RESULT_LUA
)
MANIFESTS = REPO / "manifests" / "serving"
SALT = "bench-salt"
JWT_KEY = "bench-jwt-secret-" + "x" * 32


@dataclass
class Result:
    setup: str
    concurrency: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float = 0.0
    """Average cores the setup's server processes used during the cell (1.0 = all of core 0); for ``deployed``
    the cell lasts until its events are sent."""
    rps_per_server_cpu: float = 0.0
    """Requests per second of server CPU time: throughput normalised for CPU stolen by neighbours."""
    events_expected: int | None = None
    """deployed: 2 x calls the server answered 200 during the cell (its own counter)."""
    events_sent: int | None = None
    """deployed: events the sink answered 2xx (``leadscore_events_sent_total``)."""
    events_dropped: dict[str, int] | None = None
    """deployed: ``leadscore_events_dropped_total`` by reason during the cell."""
    events_received: int | None = None
    """deployed: events the consumer recorded (its ``/stats`` counter)."""
    consumer_cpu: float | None = None
    """deployed: cores the consumer used (it shares core 1 with wrk; not in ``server_cpu``)."""


TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgids: list[int]) -> float:
    """utime + stime of every live process in the given process groups (from /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:  # field 5 of stat = pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def wrk(
    url: str,
    body: Path,
    concurrency: int,
    seconds: int,
    lua: Path,
    pgids: list[int] | None = None,
    auth: str = "",
    settle: Callable[[], object] | None = None,
) -> Result:
    """One wrk run and the server CPU it cost; ``settle`` runs after the load, before the CPU is read (the
    event drain: the CPU that sends the cell's events is counted in the cell)."""
    cpu0, t0 = group_cpu_seconds(pgids or []), time.monotonic()
    env = {"BODY": str(body), "AUTH": auth}
    w = run_wrk(url, lua, concurrency=concurrency, seconds=seconds, cpu=CLIENT_CPU, env=env)
    if settle is not None:
        settle()
    cpu, wall = group_cpu_seconds(pgids or []) - cpu0, time.monotonic() - t0
    r = Result("", concurrency, w.rps, w.p50_ms, w.p95_ms, w.p99_ms, w.non_2xx, w.socket_errors)
    r.server_cpu = cpu / wall
    r.rps_per_server_cpu = w.requests / cpu if cpu > 0 else 0.0
    return r


def hs256_token(key: str, sub: str = "bench-crm", audience: str = "leadscore-crm", ttl: int = 3600) -> str:
    """A signed JWT (HS256) as the CRM gateway would send it."""

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": sub, "aud": audience, "exp": int(time.time()) + ttl}).encode())
    sig = hmac.new(key.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{b64(sig)}"


def _env_entries(entries: list[dict[str, Any]]) -> dict[str, str]:
    secrets = {"pii-salt": SALT, "jwt-key": JWT_KEY}
    out = {}
    for e in entries:
        if "value" in e:
            out[e["name"]] = str(e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            out[e["name"]] = secrets.get(e["valueFrom"]["secretKeyRef"]["key"], "")
        elif "fieldRef" in e.get("valueFrom", {}):
            out[e["name"]] = "leadscore"  # metadata.namespace
    return out


def deployed_env(sink_url: str | None, redis_url: str | None) -> dict[str, str]:
    """The predictor environment manifests/serving deploys: the ServingRuntime's env overridden by the
    InferenceService's, with only what cannot exist here replaced (secrets by local values, the cluster's
    Redis and broker by local ones, the rate limit out of reach of the load generator). MLSERVER_* are
    what ``python -m leadscore_predictor`` sets itself (parallel_workers=0, debug off)."""
    docs = [d for f in sorted(MANIFESTS.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    runtime = next(d for d in docs if d.get("kind") == "ServingRuntime")
    isvc = next(d for d in docs if d.get("kind") == "InferenceService")
    if "transformer" in isvc["spec"] or "logger" in isvc["spec"]["predictor"]:
        sys.exit(
            "manifests/serving deploys a transformer or the KServe logger: 'deployed' measures the one-process design"
        )
    env = _env_entries(runtime["spec"]["containers"][0].get("env", []))
    env.update(_env_entries(isvc["spec"]["predictor"]["model"].get("env", [])))
    env = {k: v for k, v in env.items() if not k.startswith("MLSERVER_")}
    env["PREDICTOR_RATE_LIMIT"] = "1000000/second"
    if "PREDICTOR_RATE_LIMIT_STORAGE" in env:
        env["PREDICTOR_RATE_LIMIT_STORAGE"] = redis_url or "memory://"
    env.pop("PREDICTOR_EVENTS_SINK_URL", None)
    if sink_url:
        env["PREDICTOR_EVENTS_SINK_URL"] = sink_url
    return env


def local_redis() -> str | None:
    """The local Redis (the rate-limit storage the cluster deploys), or None when it is not running."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        return None


def start_sink(workdir: Path, log: Path) -> tuple[Proc, str]:
    """The monitors' inference-log sink (monitors env), pinned to the client's core at the lowest priority."""
    from leadscore.local.envs import env_python

    py = env_python("monitors")
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": "", "MONITOR_HOST": "127.0.0.1", "MONITOR_PORT": str(port),
        "MONITOR_STATE_DIR": str(workdir / "sink-state"), "MONITOR_TABLE_URI": str(workdir / "inference_log"),
        "MONITOR_SQLITE_SYNCHRONOUS": "FULL", "LEADSCORE_PII_SALT": SALT,
    }  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            ["taskset", "-c", CLIENT_CPU, "nice", "-n", "19", str(py), "-m", "leadscore_monitors", "sink"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    return Proc("sink", popen, log, f"{base}/healthz"), base


def _metric(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            out[labels] = out.get(labels, 0.0) + float(value)
    return out


def event_snapshot(server: str, sink: str | None, timeout: float = 60.0) -> dict[str, Any]:
    """Counters once the event queue is empty (waits up to ``timeout`` s for the senders to catch up)."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(f"{server}/metrics", timeout=10).text
        queued = sum(_metric(text, "leadscore_events_queued").values())
        if queued == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(0.3)  # the last batch's answers
    text = httpx.get(f"{server}/metrics", timeout=10).text
    ok = sum(v for k, v in _metric(text, "leadscore_requests_total").items() if 'status="200"' in k)
    dropped = {
        k.split('reason="')[1].split('"')[0]: int(v) for k, v in _metric(text, "leadscore_events_dropped_total").items()
    }
    received = httpx.get(f"{sink}/stats", timeout=30).json()["counters"].get("recorded", 0) if sink else 0
    sent = int(sum(_metric(text, "leadscore_events_sent_total").values()))
    return {"served": int(ok), "sent": sent, "dropped": dropped, "received": int(received), "queued": queued}


def stock_venv(home: Path, tuned: bool) -> Path:
    """A scratch venv with stock MLServer + mlserver-xgboost 1.7.1 (httptools only when tuned)."""
    venv = home / ("venv-mlserver-xgboost-tuned" if tuned else "venv-mlserver-xgboost-default")
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run(["uv", "venv", "-q", "-p", "3.11", str(venv)], check=True)
        pkgs = ["mlserver==1.7.1", "mlserver-xgboost==1.7.1", "uvloop==0.21.0"] + (["httptools"] if tuned else [])
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(py), *pkgs], check=True)
    return venv


def start_stock(venv: Path, booster: Path, workdir: Path, tuned: bool, log: Path) -> tuple[Proc, str]:
    repo = workdir / ("stock-tuned" if tuned else "stock-default")
    (repo / "lead-xgb").mkdir(parents=True, exist_ok=True)
    shutil.copy(booster, repo / "lead-xgb" / "model.json")
    port = free_port()
    settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "host": "127.0.0.1"}
    (repo / "settings.json").write_text(json.dumps(settings))
    model = {
        "name": "lead-xgb",
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": "./model.json"},
    }
    (repo / "lead-xgb" / "model-settings.json").write_text(json.dumps(model))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    if tuned:
        env.update({"MLSERVER_PARALLEL_WORKERS": "0", "MLSERVER_DEBUG": "false"})
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, str(venv / "bin" / "mlserver"), "start", str(repo)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=repo,
        )
    base = f"http://127.0.0.1:{port}"
    return Proc("stock", popen, log, f"{base}/v2/models/lead-xgb/ready"), base


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=15, help="seconds of measured load per cell")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load before each cell")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--setups", default="deployed,deployed-noevents,a-transformer,a-merged,c-default,c-tuned")
    ap.add_argument("--model-dir", type=Path, default=None, help="artifact to serve (default: a 200-tree bench model)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    return ap.parse_args(argv)


@dataclass
class Bench:
    """What every setup of one run shares: the arguments, the scratch directory, the served model, the request
    bodies with the probability each must answer, and the results so far."""

    args: argparse.Namespace
    conc: list[int]
    setups: list[str]
    home: Path
    work: Path
    lua: Path
    model_dir: Path
    columns: int
    lead: dict[str, Any]
    expected: float
    """The calibrated probability of ``lead`` (what /score-lead and our V2 endpoint answer)."""
    raw_prob: float
    """The booster's own probability (what stock mlserver-xgboost answers)."""
    bodies: dict[str, Any]
    files: dict[str, Path]
    results: list[Result] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def check_crm(self, url: str, auth: str = "") -> None:
        headers = {"authorization": auth} if auth else {}
        got = httpx.post(url, json=self.lead, timeout=10, headers=headers).json()["probability"]
        assert abs(got - self.expected) < 1e-5, (got, self.expected)

    def check_v2(self, url: str) -> None:
        out = {o["name"]: o for o in httpx.post(url, json=self.bodies["v2"], timeout=10).json()["outputs"]}
        assert abs(out["probability"]["data"][0] - self.expected) < 1e-6

    def check_stock(self, url: str) -> None:
        out = httpx.post(url, json=self.bodies["stock"], timeout=10).json()["outputs"][0]["data"]
        assert abs(out[0] - self.raw_prob) < 1e-5, (out, self.raw_prob)


def prepare(args: argparse.Namespace) -> Bench:
    """The scratch directory, the wrk script, the model (built unless ``--model-dir``) and the request bodies."""
    conc = [int(c) for c in args.concurrency.split(",")]
    setups = args.setups.split(",")
    home = Path(os.environ.get("LEADSCORE_HOME", REPO / ".leadscore")).resolve() / "bench"
    home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    lua = work / "post.lua"
    lua.write_text(LUA)

    model_dir = args.model_dir or make_artifact(work / "model", n=20_000, rounds=200, depth=6)
    from leadscore_core.artifact import LeadScorer
    from leadscore_core.validation import check_record

    scorer = LeadScorer(model_dir).load()
    assert scorer.encoder is not None
    lead = sample_lead(seed=5)
    x = scorer.encoder.encode_records([check_record(scorer.spec, lead).values])
    expected = float(scorer.score(x).probability[0])
    raw_prob = float(1 / (1 + math.exp(-float(scorer.score(x).margin[0]))))
    data = [None if v != v else v for v in x.ravel().tolist()]
    bodies = {
        "crm": lead,
        "v2": {
            "inputs": [{"name": "features", "shape": list(x.shape), "datatype": "FP32", "data": data}],
            "parameters": {"explain": True},
        },
        "stock": {
            "inputs": [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": data}],
        },  # default output "predict" = the probability (a raw Booster loads as XGBRegressor)
    }
    files = {}
    for k, v in bodies.items():
        files[k] = work / f"{k}.json"
        files[k].write_text(json.dumps(v))
    columns = scorer.encoder.n_columns
    return Bench(args, conc, setups, home, work, lua, model_dir, columns, lead, expected, raw_prob, bodies, files)


def measure_cell(
    b: Bench, c: int, procs: list[Proc], url: str, body: Path, auth: str, sink: tuple[Proc, str] | None, events: bool
) -> Result:
    """Warm-up, then one measured wrk run at concurrency ``c``; with ``events`` its payload events, counted from
    the server's and the sink's counters before the run and after the queue drained."""
    server = url.rsplit("/", 1)[0]
    sink_url = sink[1] if sink else None
    wrk(url, body, c, b.args.warmup, b.lua, auth=auth)
    before = event_snapshot(server, sink_url) if events else None
    sink_cpu0 = group_cpu_seconds([os.getpgid(sink[0].pid)]) if sink else 0.0
    t0 = time.monotonic()
    after: dict[str, Any] = {}
    settle = (lambda a=after: a.update(event_snapshot(server, sink_url))) if before is not None else None
    pgids = [os.getpgid(p.pid) for p in procs]
    r = wrk(url, body, c, b.args.duration, b.lua, pgids, auth=auth, settle=settle)
    if sink:
        r.consumer_cpu = (group_cpu_seconds([os.getpgid(sink[0].pid)]) - sink_cpu0) / (time.monotonic() - t0)
    if before is not None:
        r.events_expected = 2 * (after["served"] - before["served"])
        r.events_sent = after["sent"] - before["sent"]
        r.events_received = after["received"] - before["received"]
        r.events_dropped = {k: v - before["dropped"].get(k, 0) for k, v in after["dropped"].items()}
    return r


def print_cell(name: str, r: Result, events: bool) -> None:
    c = r.concurrency
    print(f"{name:14s} c={c:<3d} {r.rps:8.0f} rps  p50 {r.p50_ms:6.1f}  p95 {r.p95_ms:6.1f}  "
          f"p99 {r.p99_ms:6.1f} ms  non2xx {r.non_2xx} sockerr {r.socket_errors}  "
          f"server cpu {r.server_cpu:.2f}  rps/cpu-s {r.rps_per_server_cpu:.0f}", flush=True)  # fmt: skip
    if events:
        drops = sum((r.events_dropped or {}).values())
        reconciled = r.events_received == (r.events_expected or 0) - drops
        print(f"{'':14s} events: expected {r.events_expected}  sent {r.events_sent}  received "
              f"{r.events_received}  dropped {drops} {r.events_dropped}  consumer cpu "
              f"{r.consumer_cpu or 0:.2f}  reconciled {reconciled}",
              flush=True)  # fmt: skip


def run(
    b: Bench, name: str, procs: list[Proc], url: str, body: Path, check: Callable[[str], None],
    auth: str = "", sink: tuple[Proc, str] | None = None, events: bool = False,
) -> None:  # fmt: skip
    """Measure one setup at every concurrency; with ``events`` reconcile its payload events per cell."""
    try:
        for p in [*procs, *([sink[0]] if sink else [])]:
            wait_ready(p, timeout=240)
        check(url)
        for c in b.conc:
            r = measure_cell(b, c, procs, url, body, auth, sink, events)
            r.setup = name
            b.results.append(r)
            print_cell(name, r, events)
    finally:
        for p in reversed([*procs, *([sink[0]] if sink else [])]):
            stop_group(p.pid)


def run_deployed(b: Bench, name: str, redis: str | None) -> None:
    """``deployed`` (with the sink) and ``deployed-noevents``: the predictor as manifests/serving deploys it."""
    sink = start_sink(b.work, b.logs / f"{name}-sink.log") if name == "deployed" else None
    env = deployed_env(f"{sink[1]}/" if sink else None, redis)
    pport = free_port()
    pred = start_predictor(b.model_dir, pport, b.logs / f"{name}-predictor.log", extra_env=env, cpu=SERVER_CPU)
    auth = f"Bearer {hs256_token(JWT_KEY)}"
    url = f"http://127.0.0.1:{pport}/score-lead"
    run(b, name, [pred], url, b.files["crm"], partial(b.check_crm, auth=auth), auth, sink, events=sink is not None)


def run_ours(b: Bench, name: str) -> None:
    """``a-transformer``, ``a-transformer-split``, ``a-merged``, ``a-merged-exact`` and ``b-predictor``."""
    pport = free_port()
    env = {**NO_LIMIT, "PREDICTOR_CRM_ENDPOINT": "true"}
    if name.endswith("-exact"):
        env["PREDICTOR_REASONS"] = "exact"
    pcpu = CLIENT_CPU if name == "a-transformer-split" else SERVER_CPU
    pred = start_predictor(b.model_dir, pport, b.logs / f"{name}-predictor.log", extra_env=env, cpu=pcpu)
    procs = [pred]
    if name.startswith("a-transformer"):
        wait_ready(pred, timeout=240)
        tport = free_port()
        log = b.logs / f"{name}-transformer.log"
        procs.append(start_transformer(pport, tport, log, extra_env=NO_LIMIT, cpu=SERVER_CPU))
        run(b, name, procs, f"http://127.0.0.1:{tport}/score-lead", b.files["crm"], b.check_crm)
    elif name.startswith("a-merged"):
        run(b, name, procs, f"http://127.0.0.1:{pport}/score-lead", b.files["crm"], b.check_crm)
    else:
        run(b, name, procs, f"http://127.0.0.1:{pport}/v2/models/lead-scoring/infer", b.files["v2"], b.check_v2)


def run_stock(b: Bench, name: str) -> None:
    """``c-default`` / ``c-tuned``: stock mlserver-xgboost serving the same booster."""
    tuned = name == "c-tuned"
    venv = stock_venv(b.home, tuned)
    proc, base = start_stock(venv, b.model_dir / "booster.json", b.work, tuned, b.logs / f"{name}.log")
    run(b, name, [proc], f"{base}/v2/models/lead-xgb/infer", b.files["stock"], b.check_stock)


def run_setup(b: Bench, name: str, redis: str | None) -> None:
    if name in ("deployed", "deployed-noevents"):
        run_deployed(b, name, redis)
    elif name in ("a-transformer", "a-transformer-split", "a-merged", "a-merged-exact", "b-predictor"):
        run_ours(b, name)
    elif name in ("c-default", "c-tuned"):
        run_stock(b, name)
    else:
        sys.exit(f"unknown setup {name}")


def write_results(b: Bench, load_before: tuple[float, float, float], redis: str | None) -> tuple[Path, dict[str, Any]]:
    """The run's metadata and every result as JSON under ``--out``; returns the file and the metadata."""
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cmd": " ".join(sys.argv),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "model": str(b.model_dir),
        "columns": b.columns,
        "duration_s": b.args.duration,
        "deployed": {
            "env": {k: v for k, v in deployed_env("<local sink>", redis).items() if "KEY" not in k and "SALT" not in k},
            "rate_limit_storage": redis or "memory:// (no local Redis)",
            "consumer": f"monitors inference-log sink, SQLite FULL, pinned to core {CLIENT_CPU} beside wrk, nice 19",
            "server_cpu": "deployed: includes the drain of the cell's events after wrk stops",
        },
    }
    b.args.out.mkdir(parents=True, exist_ok=True)
    out: Path = b.args.out / f"serving-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in b.results]}, indent=2))
    return out, meta


def result(b: Bench, setup: str, c: int) -> Result | None:
    return next((r for r in b.results if r.setup == setup and r.concurrency == c), None)


def print_table(b: Bench) -> None:
    """The markdown table: one row per setup, one column per concurrency."""
    print("\n| setup | " + " | ".join(f"c={c}" for c in b.conc) + " |\n|---|" + "---|" * len(b.conc))
    for name in b.setups:
        cells = []
        for c in b.conc:
            r = result(b, name, c)
            cells.append(
                f"{r.rps:.0f} · {r.p50_ms:.1f}/{r.p95_ms:.1f}/{r.p99_ms:.1f} · cpu {r.server_cpu:.2f} · "
                f"{r.rps_per_server_cpu:.0f}/cpu-s"
                if r
                else "-"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_comparisons(b: Bench) -> None:
    """Per concurrency: the event path's CPU, deployed vs stock tuned MLServer, the events dropped."""
    for c in b.conc:
        on = result(b, "deployed", c)
        off = result(b, "deployed-noevents", c)
        tuned = result(b, "c-tuned", c)
        if on and off and on.rps_per_server_cpu and off.rps_per_server_cpu:
            us = (1 / on.rps_per_server_cpu - 1 / off.rps_per_server_cpu) * 1e6
            print(f"c={c}: event path {us:.0f} us server CPU per request (deployed vs deployed-noevents)")
        if on and tuned and tuned.rps_per_server_cpu:
            print(f"c={c}: deployed / c-tuned requests per server-CPU-second = "
                  f"{on.rps_per_server_cpu / tuned.rps_per_server_cpu:.2f}x")  # fmt: skip
        if on and on.events_dropped is not None:
            print(f"c={c}: events dropped {on.events_dropped}")


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    b = prepare(args)
    load_before = os.getloadavg()
    redis = local_redis()
    for name in b.setups:
        run_setup(b, name, redis)
    out, meta = write_results(b, load_before, redis)
    print_table(b)
    print_comparisons(b)
    print(f"\nloadavg before {load_before}, after {meta['loadavg_after']}; JSON: {out}")
    shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    main()
