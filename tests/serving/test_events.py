"""The deployed design end to end: /score-lead served by the predictor, its payload events in process to the
REAL inference-log sink of the monitors (started from the monitors env), and the PII probe.

Reconciliation: every event the predictor emitted is either recorded by the sink or counted in
``leadscore_events_dropped_total``; the sink's Delta table holds one row per scored lead keyed by the salted
hash; no file the run produced (logs, the consumer's SQLite state, the Delta table) contains the planted
e-mail, phone, name or raw lead id.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadscore.local.envs import EnvironmentMissing, env_python
from leadscore.local.serve import Proc, free_port, start_predictor, stop_group, wait_ready
from leadscore_core.events import lead_key
from leadscore_core.testkit import sample_lead

pytestmark = pytest.mark.slow
SALT = "probe-salt-" + uuid.uuid4().hex[:8]


@contextlib.contextmanager
def sink_consumer(state: Path, table: Path, log: Path) -> Iterator[str]:
    """``python -m leadscore_monitors sink`` from the monitors env on a free port (process group killed)."""
    try:
        monitors_py = env_python("monitors")
    except EnvironmentMissing as exc:
        pytest.fail(f"the monitors env is needed: {exc}")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": "",
        "MONITOR_HOST": "127.0.0.1",
        "MONITOR_PORT": str(port),
        "MONITOR_STATE_DIR": str(state),
        "MONITOR_TABLE_URI": str(table),
        "MONITOR_SQLITE_SYNCHRONOUS": "NORMAL",
        "MONITOR_LOG_LEVEL": "INFO",
        "LEADSCORE_PII_SALT": SALT,
    }
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [str(monitors_py), "-m", "leadscore_monitors", "sink"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    proc = Proc("sink", popen, log, f"http://127.0.0.1:{port}/healthz")
    try:
        wait_ready(proc, timeout=240)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(popen.pid)


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def event_counts(base: str) -> tuple[float, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return metric(text, "leadscore_events_sent_total"), metric(text, "leadscore_events_dropped_total")


def wait_accounted(base: str, events: int, timeout: float = 60.0) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent, dropped = event_counts(base)
        if sent + dropped >= events:
            return sent, dropped
        time.sleep(0.2)
    raise AssertionError(f"{events} events expected, counted {event_counts(base)}")


def probe_leads(tag: str, n: int) -> list[dict[str, object]]:
    leads = []
    for i in range(n):
        lead = sample_lead(lead_id=f"LEADID-{tag}-{i}", seed=100 + i)
        lead["email"] = f"probe.{tag}.{i}@pii-probe.example"
        lead["phone"] = f"+4479{tag[:4]}{i:05d}"  # digits of the tag: unique per run
        lead["full_name"] = f"Zebulon {tag} Quaxworth{i}"
        leads.append(lead)
    return leads


def scan_for(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` whose bytes contain a needle (text, SQLite pages, Parquet, Delta log)."""
    hits = []
    raw = [n.encode() for n in needles]
    for f in root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            hits += [f"{f}: {n!r}" for n in raw if n in data]
    return hits


@pytest.mark.parametrize(("singles", "lists", "list_len"), [(40, 5, 3), (15, 10, 7)])
def test_deployed_events_reach_the_real_sink_and_carry_no_pii(
    artifact: Path, tmp_path: Path, singles: int, lists: int, list_len: int
) -> None:
    tag = uuid.uuid4().hex[:10]
    tag = re.sub(r"[^0-9]", "7", tag)  # digits only: the phone field takes it too
    state, table, logs = tmp_path / "state", tmp_path / "lake" / "inference_log", tmp_path / "logs"
    logs.mkdir()
    with sink_consumer(state, table, logs / "sink.log") as sink:
        port = free_port()
        env = {
            "PREDICTOR_RATE_LIMIT": "",
            "PREDICTOR_EVENTS_SINK_URL": f"{sink}/",
            "PREDICTOR_EVENTS_BATCH": "16",
            "LEADSCORE_PII_SALT": SALT,
        }
        pred = start_predictor(artifact, port, logs / "predictor.log", extra_env=env)
        try:
            wait_ready(pred)
            base = f"http://127.0.0.1:{port}"
            leads = probe_leads(tag, singles + lists * list_len)
            served, scored_ids = 0, []
            with httpx.Client(timeout=30) as c:
                for lead in leads[:singles]:
                    r = c.post(f"{base}/score-lead", json=lead, headers={"x-request-id": f"rid-{lead['email']}"})
                    assert r.status_code == 200, r.text
                    served, scored_ids = served + 1, [*scored_ids, str(lead["lead_id"])]
                for k in range(lists):
                    chunk = leads[singles + k * list_len : singles + (k + 1) * list_len]
                    r = c.post(f"{base}/score-lead", json=chunk)
                    assert r.status_code == 200, r.text
                    served, scored_ids = served + 1, scored_ids + [str(x["lead_id"]) for x in chunk]
                bad = {**leads[0], "email_clicks": -5}  # refused by the contract: no events
                assert c.post(f"{base}/score-lead", json=bad).status_code == 422
            sent, dropped = wait_accounted(base, 2 * served)
            assert sent + dropped == 2 * served
        finally:
            stop_group(pred.pid)
        assert httpx.post(f"{sink}/flush", timeout=60).status_code == 200
        stats = httpx.get(f"{sink}/stats", timeout=30).json()
    counters = stats["counters"]
    # events the sink recorded == events served - counted drops (a healthy local sink: no drops)
    assert dropped == 0
    assert counters.get("recorded", 0) == sent == 2 * served
    assert counters.get("rejected", 0) == 0 and counters.get("duplicated", 0) == 0
    assert stats["rows_written"] == len(scored_ids) and stats["unjoined"] == 0

    from deltalake import DeltaTable

    rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    assert sorted(r["lead_key"] for r in rows) == sorted(lead_key(i, SALT) for i in scored_ids)
    assert {r["model_version"] for r in rows} == {"7"} and {r["endpoint"] for r in rows} == {"default"}
    # the PII probe: planted e-mail, phone, name and raw lead id appear in no file and no table cell
    needles = [str(v) for lead in leads for k, v in lead.items() if k in ("email", "phone", "full_name", "lead_id")]
    needles += [f"probe.{tag}", f"Zebulon {tag}", f"LEADID-{tag}"]
    assert scan_for(tmp_path, needles) == []
    assert scan_for(tmp_path, [lead_key(scored_ids[0], SALT)])  # the scan does read what the consumer wrote
    cells = " ".join(str(v) for r in rows for v in r.values())
    assert not any(n in cells for n in needles)


@pytest.mark.parametrize("sink", ["no-answer", "refused"])
def test_a_dead_sink_does_not_slow_score_lead(artifact: Path, tmp_path: Path, sink: str) -> None:
    """The sink accepts connections and never answers (or refuses them): every call is still answered
    well inside the events' send timeout, and every event is counted as dropped."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        if sink == "no-answer":
            hole.listen(64)  # the kernel completes connections; nobody ever reads or answers
        sink_port = hole.getsockname()[1]
        port = free_port()
        env = {
            "PREDICTOR_RATE_LIMIT": "",
            "PREDICTOR_EVENTS_SINK_URL": f"http://127.0.0.1:{sink_port}/leadscore/default",
            "PREDICTOR_EVENTS_SEND_TIMEOUT_SECONDS": "10",
            "PREDICTOR_EVENTS_QUEUE_SIZE": "20",
            "PREDICTOR_EVENTS_BATCH": "8",
            "PREDICTOR_EVENTS_CONNECTIONS": "1",
        }
        pred = start_predictor(artifact, port, tmp_path / "predictor.log", extra_env=env)
        try:
            wait_ready(pred)
            base = f"http://127.0.0.1:{port}"
            worst, n = 0.0, 200
            leads = [sample_lead(lead_id=f"L-{i}", seed=i) for i in range(n)]  # built before the clock runs
            with httpx.Client(timeout=30) as c:
                for lead in leads:
                    t = time.perf_counter()
                    r = c.post(f"{base}/score-lead", json=lead)
                    worst = max(worst, time.perf_counter() - t)
                    assert r.status_code == 200, r.text
            sent, dropped = wait_accounted(base, 2 * n, timeout=120)
            text = httpx.get(f"{base}/metrics", timeout=10).text
        finally:
            stop_group(pred.pid)
    assert worst < 1.5  # never the 10 s send timeout: the request path does not wait for the sink
    assert sent == 0 and dropped == 2 * n
    if sink == "no-answer":  # 3 s per failed batch: the 50-call queue fills meanwhile
        assert metric(text, "leadscore_events_dropped_total", reason="queue_full") > 0
    assert metric(text, "leadscore_events_dropped_total", reason="send_error") > 0
