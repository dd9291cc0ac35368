"""The local stack the live query check scrapes: real servers and consumers, a real Prometheus, traffic.

Processes (each in its own process group on a free 127.0.0.1 port, always stopped at teardown):

* MLServer predictor and kserve transformer from their own venvs (``leadscore.local.serve``), the
  transformer's rate limiter pointed at a closed port: it fails open and counts it;
* the six consumers (``python -m leadscore_monitors <component>`` from monitors/.venv) and the local
  payload-logger stand-in in front of the transformer, delivering to drift, sink and shadow;
* the canary analysis' metrics server (:class:`leadscore.delivery.metrics.AnalysisMetrics`, as
  ``leadscore canary analyze`` starts it before its first judgement; no analysis runs: that needs a registry,
  a Kubernetes API and canary traffic, and tests/delivery/test_analysis.py drives the rollback that counts);
* Prometheus (Debian binary) scraping all of them every second, with the chart's alert rules loaded.

Traffic: valid leads (some with missing values and unknown categories) through the logger, refused
leads (422), a retrain request, a dead-lettered event, a malformed event (rejected), an event a locked
store cannot record (error), and finally requests while the predictor is down (503). Then the real outcome
join (``python -m leadscore_monitors outcome``) runs against a real PostgreSQL CRM holding the logged leads'
conversions (the earlier half converts more: a conversion drop) and posts its report to the outcome-metrics
consumer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORS_PY = ROOT / "monitors" / ".venv" / "bin" / "python"
RULES = sorted((ROOT / "charts" / "leadscore" / "files" / "rules").glob("*.rules.yaml"))
WINDOW = 60
"""Drift and shadow window size: the traffic closes at least one window of each."""
BIAS_MIN_GROUP = 5
"""Leads a sensitive group needs in a drift window for bias figures (live stack only)."""
ZERO_HOLD_SECONDS = 3
"""The outcome-metrics consumer exports a new cell at 0 this long (three scrapes) before its count."""
CONVERSION = (0.45, 0.10)
"""Conversion probability of the earlier and the later half of the logged leads in the CRM."""
ANALYSIS_METRICS = (
    "import sys, time\n"
    "from leadscore.delivery.metrics import AnalysisMetrics\n"
    "AnalysisMetrics().serve(int(sys.argv[1]), addr='127.0.0.1')\n"
    "time.sleep(3600)\n"
)
NEW_VALUE = "live-check-new-source"
"""A lead_source value outside the contract, sent in every sixth lead: it maps to the spec's unknown bucket,
which the reference (clean random leads) never saw, so the detector reports it (leadscore_drift_new_value)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Handles on the running processes."""

    tmp: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    """scrape job -> host:port of its /metrics."""
    counts: dict[str, int] = field(default_factory=dict)
    """HTTP status -> calls, of the traffic sent."""
    down: list[int] = field(default_factory=list)
    """Statuses answered while the predictor was stopped."""
    outcome: dict[str, Any] = field(default_factory=dict)
    """The outcome job's printed report (its ``event`` is what the outcome-metrics consumer exports)."""

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_http(self, name: str, url: str, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{name} not ready in {timeout:.0f}s: {self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)


def start_serving(stack: Stack, artifact: Path) -> None:
    from leadscore.local.serve import start_predictor, start_transformer

    pport, mport, tport = free_port(), free_port(), free_port()
    pred = start_predictor(
        artifact,
        pport,
        stack.tmp / "predictor.log",
        model_version="7",
        extra_env={"PREDICTOR_METRICS_PORT": str(mport)},
    )
    stack.procs["predictor"] = pred.popen
    closed = free_port()  # nothing listens here: the limiter's storage is "down"
    env = {"TRANSFORMER_RATE_LIMIT": "1000/second", "TRANSFORMER_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{closed}/0"}
    trans = start_transformer(pport, tport, stack.tmp / "transformer.log", extra_env=env)
    stack.procs["transformer"] = trans.popen
    stack.urls.update(predictor_ready=pred.ready_url, transformer=f"http://127.0.0.1:{tport}")
    stack.urls["transformer_ready"] = trans.ready_url
    stack.metrics.update(transformer=f"127.0.0.1:{tport}", predictor=f"127.0.0.1:{mport}")


def start_consumers(stack: Stack, artifact: Path, shadow: Path) -> None:
    ports = {c: free_port() for c in ("drift", "sink", "shadow", "trigger", "dead-letter", "outcome-metrics")}
    trigger_url = f"http://127.0.0.1:{ports['trigger']}"
    extra = {
        "drift": {
            "MONITOR_MODEL_DIR": str(artifact),
            # one drift window over the main traffic (it closes at lead 2*WINDOW with the earlier leads'
            # answers joined), so the last published window carries reason-mix and bias figures
            "MONITOR_WINDOW_SIZE": str(2 * WINDOW),
            "MONITOR_REPLY_URL": trigger_url,
            # small windows: bias figures for groups of a few leads (the chart keeps the default, 100)
            "LEADSCORE_DRIFT_BIAS_MIN_GROUP": str(BIAS_MIN_GROUP),
        },
        "sink": {"MONITOR_TABLE_URI": str(stack.tmp / "inference_log"), "MONITOR_FLUSH_SECONDS": "1"},
        "shadow": {"MONITOR_SHADOW_MODEL_DIR": str(shadow), "MONITOR_WINDOW_SIZE": str(WINDOW)},
        "trigger": {"MONITOR_COMMAND": "true", "MONITOR_COOLDOWN_SECONDS": "0"},
        "dead-letter": {},
        "outcome-metrics": {"MONITOR_ZERO_HOLD_SECONDS": str(ZERO_HOLD_SECONDS)},
    }
    for component, port in ports.items():
        env = {
            "MONITOR_HOST": "127.0.0.1",
            "MONITOR_PORT": str(port),
            "MONITOR_STATE_DIR": str(stack.tmp / "state" / component),
            "MONITOR_MIN_WINDOW": "50",
            "LEADSCORE_HOME": str(stack.tmp / "home"),
            **extra[component],
        }
        stack.spawn(component, [str(MONITORS_PY), "-m", "leadscore_monitors", component], env)
        stack.urls[component] = f"http://127.0.0.1:{port}"
        stack.metrics[component] = f"127.0.0.1:{port}"


def start_logger(stack: Stack) -> None:
    port = free_port()
    subs = [stack.urls[c] for c in ("drift", "sink", "shadow")]
    argv = [str(MONITORS_PY), "-m", "leadscore_monitors", "logger", "--upstream", stack.urls["transformer"]]
    argv += [a for s in subs for a in ("--subscriber", s)] + ["--port", str(port)]
    stack.spawn("logger", argv, {"LEADSCORE_HOME": str(stack.tmp / "home")})
    stack.urls["logger"] = f"http://127.0.0.1:{port}"


def start_analysis_metrics(stack: Stack) -> None:
    """The canary analysis' metrics server in the root env (``leadscore_canary_*`` at their start values)."""
    port = free_port()
    stack.spawn("canary-analysis", [sys.executable, "-c", ANALYSIS_METRICS, str(port)], {})
    stack.urls["canary-analysis"] = f"http://127.0.0.1:{port}"
    stack.metrics["canary-analysis"] = f"127.0.0.1:{port}"


def crm_with_conversions(dsn: str, lead_ids: list[str], seed: int = 11) -> int:
    """A CRM ``leads`` table (id, converted) for ``lead_ids``; the later half converts less. Returns conversions."""
    import numpy as np
    import psycopg

    rng = np.random.default_rng(seed)
    half = len(lead_ids) // 2
    rows = [(x, "true" if rng.random() < CONVERSION[i >= half] else "false") for i, x in enumerate(lead_ids)]
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE leads (lead_id text PRIMARY KEY, converted text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO leads VALUES (%s, %s)", rows)
    return sum(c == "true" for _, c in rows)


def run_outcome_join(stack: Stack, dsn: str) -> dict[str, Any]:
    """Flush the sink's staged rows into the Delta log, then run the outcome job as the CronWorkflow does."""
    httpx.post(f"{stack.urls['sink']}/flush", timeout=120.0).raise_for_status()
    argv = [str(MONITORS_PY), "-m", "leadscore_monitors", "outcome", "--dsn", dsn]
    argv += ["--table-uri", str(stack.tmp / "inference_log"), "--report-url", stack.urls["outcome-metrics"]]
    env = {**os.environ, "LEADSCORE_HOME": str(stack.tmp / "home"), "MONITOR_SETTLE_DAYS": "0"}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"outcome job exited {proc.returncode}: {proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def prometheus_config(stack: Stack) -> Path:
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(r) for r in RULES],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in stack.metrics.items()
        ],
    }
    path = stack.tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_prometheus(stack: Stack, binary: str) -> None:
    port = free_port()
    argv = [
        binary,
        f"--config.file={prometheus_config(stack)}",
        f"--storage.tsdb.path={stack.tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    stack.spawn("prometheus", argv, {})
    stack.urls["prometheus"] = f"http://127.0.0.1:{port}"
    stack.wait_http("prometheus", f"{stack.urls['prometheus']}/-/ready", timeout=60)


def cloudevent(ce_type: str, body: Any, **ext: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": ce_type,
        "ce-source": "/tests/live-queries",
        "content-type": "application/json",
        **{f"ce-{k}": v for k, v in ext.items()},
    }
    return headers, json.dumps(body).encode()


def drive_traffic(stack: Stack, leads: list[dict[str, Any]], odd: list[dict[str, Any]]) -> dict[str, int]:
    """Every kind of traffic the panels and rules look at; returns status counts."""
    counts: dict[str, int] = {}
    with httpx.Client(timeout=30.0) as client:
        for i in range(0, len(leads), 10):
            r = client.post(f"{stack.urls['logger']}/score-lead", json=leads[i : i + 10])
            counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
        for lead in odd:
            r = client.post(f"{stack.urls['transformer']}/score-lead", json=lead)
            counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
        _events(client, stack)
    return counts


def _events(client: httpx.Client, stack: Stack) -> None:
    now = datetime.now(UTC).isoformat()
    retrain = {"reason": "manual", "detail": "live query check", "requested_at": now}
    h, b = cloudevent("ai.leadscore.retrain.requested", retrain)
    client.post(stack.urls["trigger"], headers=h, content=b).raise_for_status()
    h, b = cloudevent("org.kubeflow.serving.inference.request", {"inputs": []}, inferenceservicename="lead-scoring")
    client.post(stack.urls["dead-letter"], headers=h, content=b).raise_for_status()
    h, b = cloudevent("com.example.unknown", {"x": 1})
    assert client.post(stack.urls["drift"], headers=h, content=b).status_code >= 400  # rejected
    # a store that cannot write: hold an exclusive lock on the dead-letter sink's SQLite file
    db = sqlite3.connect(stack.tmp / "state" / "dead-letter" / "event-dead-letter.sqlite", timeout=10)
    try:
        db.execute("BEGIN EXCLUSIVE")
        h, b = cloudevent("org.kubeflow.serving.inference.request", {"inputs": []})
        client.post(stack.urls["dead-letter"], headers=h, content=b)  # -> outcome "error"
    finally:
        db.rollback()
        db.close()


def predictor_down_traffic(stack: Stack, lead: dict[str, Any]) -> list[int]:
    """Stop the predictor, then call /score-lead: the transformer answers 5xx."""
    stack.stop("predictor")
    with httpx.Client(timeout=30.0) as client:
        return [client.post(f"{stack.urls['transformer']}/score-lead", json=lead).status_code for _ in range(5)]


def query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{stack.urls['prometheus']}/api/v1/query", params={"query": expr}, timeout=30.0)
    body = r.json()
    if body.get("status") != "success":
        raise AssertionError(f"{expr}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for_series(stack: Stack, exprs: list[str], timeout: float = 60.0) -> None:
    """Until Prometheus has scraped the end state (each expr returns a series) or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(query(stack, e) for e in exprs):
            return
        time.sleep(1.0)
