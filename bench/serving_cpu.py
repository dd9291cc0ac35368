"""Server CPU per request (not a test): a count, not a speed, so it holds up better than rps on a busy box.

Setups: ``deployed`` (the manifests' predictor, ``/score-lead`` with JWT, the Redis limit and its events
flowing to the real inference-log sink), ``deployed-noevents`` (the same without a sink), ``c-tuned`` (stock
tuned MLServer + mlserver-xgboost on the same booster, as in ``bench/serving.py``); ``<setup>@<python>`` runs
a predictor with another env's interpreter (another worktree: before/after in one run), ``+NAME=VALUE`` adds
an environment variable. Every server is pinned to core 0, ``wrk`` and the sink to core 1.

All setups run at once and the rounds alternate between them (only one is loaded at a time), so a change of
the machine's load hits every setup alike. A round drives ``--seconds`` of closed-loop load at
``--concurrency`` and divides the server process's CPU time (``utime + stime`` of ``/proc/<pid>/stat``) and,
where the kernel allows it, its retired instructions (``perf stat -e instructions``) by the calls it answered
(its ``leadscore_requests_total``; wrk's count for stock MLServer); with events it waits until they are all
sent, so their CPU is in the round. Printed: the median per setup, and per round the ratio to ``c-tuned`` in
requests per server-CPU-second (the issue's measure).

Usage (repo root, root env; needs ``wrk`` and the predictor and monitors envs)::

    .venv/bin/python bench/serving_cpu.py --setups c-tuned,deployed,deployed-noevents
    OLD=../main/model_server/predictor/.venv/bin/python
    .venv/bin/python bench/serving_cpu.py --setups c-tuned,deployed@$OLD,deployed
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from serving import (
    CLIENT_CPU,
    JWT_KEY,
    LUA,
    REPO,
    SERVER_CPU,
    _metric,
    deployed_env,
    event_snapshot,
    hs256_token,
    local_redis,
    start_sink,
    start_stock,
    stock_venv,
)
from wrk_run import run_wrk

from leadscore.local.serve import Proc, free_port, start_predictor, stop_group, wait_ready
from leadscore_core.testkit import make_artifact, sample_lead

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def served(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return int(sum(v for k, v in _metric(text, "leadscore_requests_total").items() if 'status="200"' in k))


def perf_works() -> bool:
    if shutil.which("perf") is None:
        return False
    out = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True)
    return out.returncode == 0 and "not supported" not in out.stderr and "<not counted>" not in out.stderr


def start_perf(pid: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["perf", "stat", "-x,", "-e", "instructions", "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_perf(proc: subprocess.Popen[str]) -> float | None:
    proc.send_signal(2)  # perf prints its counts on SIGINT
    _, err = proc.communicate(timeout=30)
    m = re.search(r"^(\d+),[^,]*,instructions", err, re.M)
    return float(m.group(1)) if m else None


@dataclass
class Setup:
    """One running setup: its predictor (and sink), and what each round measured."""

    name: str
    pred: Proc
    sink: tuple[Proc, str] | None
    url: str
    base: str
    body: str = "crm"
    """Which request body: the CRM lead (``/score-lead``) or the stock V2 tensor."""
    cpu_us: list[float] = field(default_factory=list)
    instructions: list[float] = field(default_factory=list)


def start_setup(name: str, model_dir: Path, work: Path) -> Setup:
    """``deployed`` or ``deployed-noevents``; ``<setup>@<python>`` runs the predictor with another predictor
    env's interpreter (e.g. another worktree's ``model_server/predictor/.venv/bin/python``: before/after);
    ``+NAME=VALUE`` suffixes add environment variables (e.g. ``deployed+PREDICTOR_GC_FREEZE=false``)."""
    spec, *extra = name.split("+")
    kind, _, python = spec.partition("@")
    if kind == "c-tuned":  # stock tuned MLServer + mlserver-xgboost on the same booster (bench/serving.py)
        home = Path(os.environ.get("LEADSCORE_HOME", REPO / ".leadscore")).resolve() / "bench"
        home.mkdir(parents=True, exist_ok=True)
        proc, base = start_stock(stock_venv(home, True), model_dir / "booster.json", work, True, work / "stock.log")
        return Setup(name, proc, None, f"{base}/v2/models/lead-xgb/infer", base, body="stock")
    if kind not in ("deployed", "deployed-noevents"):
        sys.exit(f"unknown setup {name}")
    log = work / f"{kind}-{len(list(work.glob('*.log')))}.log"
    sink = start_sink(log.with_suffix(""), log.with_suffix(".sink.log")) if kind == "deployed" else None
    env = deployed_env(f"{sink[1]}/" if sink else None, local_redis())
    for kv in extra:  # e.g. deployed+PREDICTOR_EVENTS_LINGER_SECONDS=0
        key, value = kv.split("=", 1)
        env[key] = value
    port = free_port()
    if python:
        env = {**os.environ, **env, "PREDICTOR_MODEL_URI": str(model_dir), "PREDICTOR_HTTP_PORT": str(port),
               "PREDICTOR_GRPC_PORT": str(free_port()), "PREDICTOR_METRICS_PORT": str(free_port()),
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        with log.open("ab") as out:
            popen = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, python, "-m", "leadscore_predictor"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        ready = f"http://127.0.0.1:{port}/v2/models/lead-scoring/ready"
        pred = Proc(name, popen, log, ready, port)
    else:
        pred = start_predictor(model_dir, port, log, extra_env=env, cpu=SERVER_CPU)
    base = f"http://127.0.0.1:{port}"
    return Setup(name, pred, sink, f"{base}/score-lead", base)


def one_round(s: Setup, args: argparse.Namespace, lua: Path, wrk_env: dict[str, str], use_perf: bool) -> None:
    """Load ``s`` for ``--seconds``; record its CPU (and instructions) per answered call (the server's own
    count; wrk's for stock MLServer)."""
    if s.sink:
        event_snapshot(s.base, s.sink[1])  # start from an empty event queue
    stock = s.body == "stock"
    n0, c0 = 0 if stock else served(s.base), cpu_seconds(s.pred.pid)
    perf = start_perf(s.pred.pid) if use_perf else None
    env = {**wrk_env, "BODY": wrk_env[f"BODY_{s.body.upper()}"]}
    w = run_wrk(s.url, lua, concurrency=args.concurrency, seconds=args.seconds, cpu=CLIENT_CPU, env=env)
    if s.sink:
        event_snapshot(s.base, s.sink[1])  # the events of these calls are sent (their CPU counted)
    counted = stop_perf(perf) if perf else None
    n, c = (w.requests if stock else served(s.base) - n0), cpu_seconds(s.pred.pid) - c0
    if w.non_2xx or w.socket_errors:
        sys.exit(f"{s.name}: {w.non_2xx} non-2xx, {w.socket_errors} socket errors")
    s.cpu_us.append(c / n * 1e6)
    if counted is not None:
        s.instructions.append(counted / n)


def report(s: Setup, concurrency: int) -> str:
    line = f"{s.name:24s} c={concurrency:<3d} cpu/request {statistics.median(s.cpu_us):7.0f} us"
    line += f" (rounds {', '.join(f'{v:.0f}' for v in s.cpu_us)})"
    if s.instructions:
        line += f"  instructions/request {statistics.median(s.instructions) / 1e3:7.0f} k"
    if s.sink:
        snap = event_snapshot(s.base, s.sink[1])
        line += f"  events sent {snap['sent']} dropped {sum(snap['dropped'].values())} received {snap['received']}"
    return line


def measure(args: argparse.Namespace, model_dir: Path, work: Path, lua: Path, body: Path) -> None:
    """All setups run at once (each predictor on core 0, idle while another is loaded); the rounds alternate
    between them, so a change of the machine's load hits every setup alike."""
    setups = [start_setup(name, model_dir, work) for name in args.setups.split(",")]
    wrk_env = {"BODY_CRM": str(body), "BODY_STOCK": str(body.with_name("stock.json"))}
    wrk_env["AUTH"] = f"Bearer {hs256_token(JWT_KEY)}"
    try:
        for s in setups:
            for p in [s.pred, *([s.sink[0]] if s.sink else [])]:
                wait_ready(p, timeout=240)
            env = {**wrk_env, "BODY": wrk_env[f"BODY_{s.body.upper()}"]}
            run_wrk(s.url, lua, concurrency=args.concurrency, seconds=args.warmup, cpu=CLIENT_CPU, env=env)
        use_perf = args.perf and perf_works()
        for _ in range(args.repeat):
            for s in setups:
                one_round(s, args, lua, wrk_env, use_perf)
        for s in setups:
            print(report(s, args.concurrency), flush=True)
        tuned = next((s for s in setups if s.name == "c-tuned"), None)
        for s in setups:
            if tuned is not None and s is not tuned:
                ratios = [t / x for x, t in zip(s.cpu_us, tuned.cpu_us, strict=True)]
                print(f"{s.name} / c-tuned, requests per server-CPU-second: median {statistics.median(ratios):.2f}x "
                      f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)  # fmt: skip
    finally:
        for s in setups:
            stop_group(s.pred.pid)
            if s.sink:
                stop_group(s.sink[0].pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", default="c-tuned,deployed,deployed-noevents")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=5, help="load per measurement")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="rounds per setup, alternating")
    ap.add_argument("--no-perf", dest="perf", action="store_false", help="CPU time only")
    ap.add_argument("--model-dir", type=Path, default=None, help="artifact (default: the 200-tree bench model)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="serving-cpu-"))
    try:
        model_dir = args.model_dir or make_artifact(work / "model", n=20_000, rounds=200, depth=6)
        body = work / "crm.json"
        body.write_text(json.dumps(sample_lead(seed=5)))
        body.with_name("stock.json").write_text(json.dumps(stock_body(model_dir)))
        lua = work / "post.lua"
        lua.write_text(LUA)
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{t} loadavg {os.getloadavg()[0]:.1f}; git {_git()}", flush=True)
        measure(args, model_dir, work, lua, body)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stock_body(model_dir: Path) -> dict[str, object]:
    """The stock V2 request of ``bench/serving.py``: the same lead, encoded (``input-0``, FP32)."""
    from leadscore_core.artifact import LeadScorer
    from leadscore_core.validation import check_record

    scorer = LeadScorer(model_dir).load()
    assert scorer.encoder is not None
    x = scorer.encoder.encode_records([check_record(scorer.spec, sample_lead(seed=5)).values])
    data = [None if v != v else v for v in x.ravel().tolist()]
    return {"inputs": [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": data}]}


def _git() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
