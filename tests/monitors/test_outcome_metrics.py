"""The outcome-metrics consumer: outcome reports stored durably, exported as gauges and a monotonic counter."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadscore_core.events import OUTCOME_TYPE
from leadscore_monitors.cloudevent import LoggedEvent, reply_event
from leadscore_monitors.outcome_metrics import OutcomeMetricsConsumer
from leadscore_monitors.store import connect
from leadscore_monitors.testkit.servers import Server

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def report(
    at: datetime,
    counts: dict[tuple[str, str, bool], int],
    auc: float = 0.7,
    drop: float = 0.05,
    threshold: float | None = None,
) -> dict:
    """A report body; ``threshold``: the job's ``conversion_drop_max`` (None: a job older than the field)."""
    versions = sorted({v for v, _, _ in counts})
    extra = {} if threshold is None else {"conversion_drop_max": threshold}
    return {
        **extra,
        "computed_at": at.isoformat(),
        "settle_days": 30,
        "business_signal": drop > (0.1 if threshold is None else threshold),
        "versions": [
            {
                "model_version": v,
                "joined": sum(n for (w, _, _), n in counts.items() if w == v),
                "conversions": sum(n for (w, _, c), n in counts.items() if w == v and c),
                "auc": auc,
                "conversion_rate": 0.2,
                "conversion_by_tier": {"A": 0.4, "B": 0.1},
                "conversion_drop": drop,
            }
            for v in versions
        ],
        "counts": [
            {"model_version": v, "tier": t, "converted": c, "leads": n} for (v, t, c), n in sorted(counts.items())
        ],
    }


def post(url: str, body: dict, ce_id: str) -> httpx.Response:
    headers, content = reply_event(OUTCOME_TYPE, ce_id, "/tests/outcome", body)
    return httpx.post(url, headers=headers, content=content, timeout=30)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("leadscore_outcome"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(m: dict, version: str, tier: str, converted: bool) -> float | None:
    key = (
        "leadscore_outcomes_total",
        (("converted", str(converted).lower()), ("model_version", version), ("tier", tier)),
    )
    return m.get(key)


def test_reports_become_gauges_and_a_counter_that_survives_restarts(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    state = str(tmp_path / "state")
    srv = server("outcome-metrics", MONITOR_STATE_DIR=state, MONITOR_ZERO_HOLD_SECONDS="0")
    before = samples(srv.metrics())
    assert total(before, "7", "A", True) is None  # nothing before the first report
    first = {("7", "A", True): 10, ("7", "A", False): 30, ("7", "B", False): 5}
    assert post(srv.url, report(T0, first), "r1").status_code == 200
    m = samples(srv.metrics())
    assert total(m, "7", "A", True) == 10 and total(m, "7", "A", False) == 30 and total(m, "7", "B", False) == 5
    assert m[("leadscore_outcome_auc", (("model_version", "7"),))] == pytest.approx(0.7)
    assert m[("leadscore_outcome_conversion_rate", (("model_version", "7"), ("tier", "A")))] == pytest.approx(0.4)
    assert m[("leadscore_outcome_conversion_drop", (("model_version", "7"),))] == pytest.approx(0.05)
    # the next night: two A leads converted (A/false snapshot falls), new leads settled, a new version appears
    second = {("7", "A", True): 12, ("7", "A", False): 28, ("7", "B", False): 9, ("8", "A", True): 3}
    assert post(srv.url, report(T0 + timedelta(days=1), second, auc=0.66, drop=0.2), "r2").status_code == 200
    m = samples(srv.metrics())
    assert total(m, "7", "A", True) == 12 and total(m, "7", "A", False) == 30  # never decreases
    assert total(m, "7", "B", False) == 9 and total(m, "8", "A", True) == 3
    assert m[("leadscore_outcome_conversion_drop", (("model_version", "8"),))] == pytest.approx(0.2)
    # a redelivery (same ce-id) and a late, older report change nothing
    assert post(srv.url, report(T0 + timedelta(days=1), second), "r2").status_code == 202
    assert post(srv.url, report(T0 - timedelta(days=3), {("7", "A", True): 99}), "r0").status_code == 200
    after = samples(srv.metrics())
    assert after == m
    srv.stop()
    restarted = server("outcome-metrics", MONITOR_STATE_DIR=state, MONITOR_ZERO_HOLD_SECONDS="0")
    assert samples(restarted.metrics()) == m
    stats = restarted.stats()
    assert stats["reports"] == 3 and stats["applied"] == 2 and stats["counters"]["duplicated"] == 1


def test_a_new_cell_is_exported_at_zero_first_so_increase_sees_its_first_count(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    hold = 2.0
    srv = server("outcome-metrics", MONITOR_STATE_DIR=str(tmp_path / "state"), MONITOR_ZERO_HOLD_SECONDS=str(hold))
    assert post(srv.url, report(T0, {("7", "A", True): 10}), "r1").status_code == 200
    assert total(samples(srv.metrics()), "7", "A", True) == 0
    time.sleep(hold + 0.5)
    assert total(samples(srv.metrics()), "7", "A", True) == 10
    nxt = {("7", "A", True): 14, ("9", "B", False): 6}
    assert post(srv.url, report(T0 + timedelta(days=1), nxt), "r2").status_code == 200
    m = samples(srv.metrics())
    assert total(m, "7", "A", True) == 14 and total(m, "9", "B", False) == 0  # the old cell counts at once
    time.sleep(hold + 0.5)
    assert total(samples(srv.metrics()), "9", "B", False) == 6


def drop_and_threshold(m: dict, version: str) -> tuple[float | None, float | None]:
    labels = (("model_version", version),)
    return m.get(("leadscore_outcome_conversion_drop", labels)), m.get(
        ("leadscore_outcome_conversion_drop_threshold", labels)
    )


def test_the_threshold_the_job_applied_is_exported_beside_each_drop(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    """Each drop gets the job's threshold under the same labels (what LeadConversionDrop matches on); the newest
    report's threshold replaces an older one; a report without one (an older job) exports no threshold series."""
    state = str(tmp_path / "state")
    srv = server("outcome-metrics", MONITOR_STATE_DIR=state, MONITOR_ZERO_HOLD_SECONDS="0")
    counts = {("7", "A", True): 3, ("8", "B", False): 4}
    assert post(srv.url, report(T0, counts, drop=0.15, threshold=0.2), "t1").status_code == 200
    m = samples(srv.metrics())
    assert drop_and_threshold(m, "7") == drop_and_threshold(m, "8") == (pytest.approx(0.15), pytest.approx(0.2))
    later = report(T0 + timedelta(days=1), counts, drop=0.15, threshold=0.12)
    assert post(srv.url, later, "t2").status_code == 200
    assert drop_and_threshold(samples(srv.metrics()), "7") == (pytest.approx(0.15), pytest.approx(0.12))
    srv.stop()
    restarted = server("outcome-metrics", MONITOR_STATE_DIR=state, MONITOR_ZERO_HOLD_SECONDS="0")
    assert drop_and_threshold(samples(restarted.metrics()), "8") == (pytest.approx(0.15), pytest.approx(0.12))
    older_job = report(T0 + timedelta(days=2), counts, drop=0.3)
    assert "conversion_drop_max" not in older_job
    assert post(restarted.url, older_job, "t3").status_code == 200
    m = samples(restarted.metrics())
    assert drop_and_threshold(m, "7") == (pytest.approx(0.3), None)
    assert not [k for k in m if k[0] == "leadscore_outcome_conversion_drop_threshold"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"versions": [{"model_version": "7", "joined": 1, "conversions": 0, "auc": 1.5}]}, "versions.0.auc"),
        ({"counts": [{"model_version": "7", "tier": "A", "converted": True, "leads": -1}]}, "counts.0.leads"),
        ({"computed_at": "yesterday"}, "computed_at"),
        (
            {"versions": [{"model_version": "7", "joined": 1, "conversions": 1, "conversion_by_tier": {"A": 2.0}}]},
            "versions.0.conversion_by_tier.A",
        ),
        ({"conversion_drop_max": 0.0}, "conversion_drop_max"),
        ({"conversion_drop_max": 1.0}, "conversion_drop_max"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(
    server: Callable[..., Server], tmp_path: Path, body: dict, field: str
) -> None:
    srv = server("outcome-metrics", MONITOR_STATE_DIR=str(tmp_path / "state"))
    r = post(srv.url, {**report(T0, {("7", "A", True): 1}), **body}, "bad")
    assert r.status_code == 422 and field in r.json()["reason"], r.text
    assert total(samples(srv.metrics()), "7", "A", True) is None


def test_a_cell_twice_in_one_report_is_refused(server: Callable[..., Server], tmp_path: Path) -> None:
    srv = server("outcome-metrics", MONITOR_STATE_DIR=str(tmp_path / "state"))
    body = report(T0, {("7", "A", True): 1})
    body["counts"] = body["counts"] * 2
    r = post(srv.url, body, "twice")
    assert r.status_code == 422 and "appears twice" in r.json()["reason"]


def _apply(consumer: OutcomeMetricsConsumer, conn: sqlite3.Connection, body: dict[str, Any], ce_id: str) -> None:
    event = LoggedEvent(id=ce_id, type=OUTCOME_TYPE, source="test", body=body, time=T0)
    decoded = consumer.decode(event)
    conn.execute("BEGIN")
    consumer.apply(conn, event, decoded)
    conn.execute("COMMIT")
    consumer.settle(True)


@pytest.mark.parametrize(("seed", "nights"), [(0, 5), (1, 30), (2, 60)])
def test_the_counter_is_the_sum_of_snapshot_increases(tmp_path: Path, seed: int, nights: int) -> None:
    """Random nightly snapshots (cells growing, sometimes shrinking, appearing, vanishing): each counter is the
    sum of its cell's increases, monotonic, and reloaded identically from the store."""
    rng = np.random.default_rng(seed)
    cells = [(v, t, c) for v in ("3", "4") for t in ("A", "B", "C") for c in (True, False)]
    conn = connect(tmp_path / "o.sqlite")
    consumer = OutcomeMetricsConsumer(zero_hold_seconds=0)
    consumer.setup(conn)
    snap = dict.fromkeys(cells, 0)
    expected = dict.fromkeys(cells, 0)
    previous: dict = {}
    for night in range(nights):
        for cell in cells:
            new = max(snap[cell] + int(rng.integers(-3, 10)), 0)
            expected[cell] += max(new - snap[cell], 0)
            snap[cell] = new
        present = {c: n for c, n in snap.items() if n or rng.random() < 0.5}
        _apply(consumer, conn, report(T0 + timedelta(days=night), present), f"n{night}")
        totals = consumer.exported.totals
        assert all(totals.get(c, 0) >= previous.get(c, 0) for c in cells)
        previous = dict(totals)
    assert {c: n for c, n in consumer.exported.totals.items() if n} == {c: n for c, n in expected.items() if n}
    reloaded = OutcomeMetricsConsumer(zero_hold_seconds=0)
    reloaded.setup(conn)
    assert reloaded.exported == consumer.exported


def test_nothing_changes_when_the_commit_is_rolled_back(tmp_path: Path) -> None:
    conn = connect(tmp_path / "o.sqlite")
    consumer = OutcomeMetricsConsumer(zero_hold_seconds=0)
    consumer.setup(conn)
    event = LoggedEvent(id="x", type=OUTCOME_TYPE, source="t", body=report(T0, {("7", "A", True): 4}), time=T0)
    conn.execute("BEGIN")
    consumer.apply(conn, event, consumer.decode(event))
    conn.execute("ROLLBACK")
    consumer.settle(False)
    assert consumer.exported.totals == {} and consumer.exported.report is None
    assert conn.execute("SELECT COUNT(*) FROM outcome_counts").fetchone()[0] == 0
