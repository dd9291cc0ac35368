"""Outcome feedback against a real PostgreSQL CRM table and a real Delta inference log."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from leadscore_core.contract import load_spec
from leadscore_core.events import lead_key
from leadscore_core.workflows import TRANSIENT_EXIT_CODE
from leadscore_monitors.logtable import read_log
from leadscore_monitors.outcome import auc, by_version, compute, crm_outcomes, main, settled_counts
from leadscore_monitors.testkit.logs import write_log
from leadscore_monitors.testkit.synth import make_records

ADMIN_DSN = os.environ.get("MONITOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SALT = "test-salt"


@pytest.fixture
def crm_db() -> Iterator[str]:
    name = f"leadscore_monitor_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_DSN} is required: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def test_auc_rank_identity() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([1, 1], [0.1, 0.2]) is None


def test_conversions_join_logged_scores(crm_db: str, artifact: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEADSCORE_PII_SALT", SALT)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    uri = str(tmp_path / "inference_log")
    ids = [[f"L-{b}-{i}" for i in range(120)] for b in range(2)]
    keys = [[lead_key(x, SALT) for x in batch] for batch in ids]
    write_log(
        tmp_path,
        artifact,
        uri,
        [
            (datetime(2026, 4, 1, tzinfo=UTC), make_records(120, 51)),
            (datetime(2026, 4, 20, tzinfo=UTC), make_records(120, 52)),
        ],
        keys,
    )
    rows = read_log(uri, columns=["lead_key", "probability", "tier", "event_time"]).to_pylist()
    prob = {r["lead_key"]: r["probability"] for r in rows}
    with psycopg.connect(crm_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE leads (lead_id text PRIMARY KEY, converted text, converted_at timestamptz, full_name text)"
        )
        for b, batch in enumerate(ids):
            cut = 0.3 if b == 0 else 0.7  # the later leads convert much less
            for x in batch:
                conv = "true" if prob[lead_key(x, SALT)] > sorted(prob.values())[int(cut * len(prob))] else "false"
                conn.execute("INSERT INTO leads VALUES (%s, %s, %s, %s)", (x, conv, None, "Some Name"))
        conn.execute("INSERT INTO leads VALUES ('L-never-scored', 'true', NULL, 'x')")
    outcomes = crm_outcomes(crm_db, "leads", load_spec("crm_freezone"), SALT)
    assert len(outcomes) == 241
    report = compute(rows, outcomes)
    assert report.joined == 240 and report.auc is not None and report.auc > 0.8
    assert report.conversion_drop is not None and report.conversion_drop > 0.10 and report.business_signal
    assert set(report.conversion_by_tier) <= {"A", "B", "C", "D"}
    assert sum(t["leads"] for t in report.conversion_by_tier.values()) == 240
    main(["--dsn", crm_db, "--table-uri", uri])
    saved = list((tmp_path / "home" / "reports" / "outcome").glob("outcome-*.json"))
    assert saved and json.loads(saved[0].read_text())["business_signal"] is True


# -- the report as the monitors export it ----------------------------------------------------------------------
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _row(key: str, version: str, tier: str, p: float, days_ago: float) -> dict[str, Any]:
    when = NOW - timedelta(days=days_ago)
    return {"lead_key": key, "model_version": version, "tier": tier, "probability": p, "event_time": when}


@pytest.mark.parametrize("settle_days", [0.0, 10.0, 45.0])
def test_settled_counts_count_each_lead_once_by_the_version_that_scored_it_last(settle_days: float) -> None:
    rows = [
        _row("converted-recent", "3", "A", 0.9, 1),
        _row("open-recent", "3", "A", 0.8, 2),
        _row("open-old", "3", "B", 0.4, 20),
        _row("open-very-old", "3", "C", 0.1, 50),
        _row("rescored", "3", "C", 0.2, 40),
        _row("rescored", "4", "A", 0.7, 30),  # the latest score wins: version 4, tier A
        _row("not-in-crm", "3", "A", 0.9, 60),
    ]
    outcomes = {"converted-recent": True, "open-recent": False, "open-old": False, "open-very-old": False}
    outcomes["rescored"] = True
    counts = {(c.model_version, c.tier, c.converted): c.leads for c in settled_counts(rows, outcomes, NOW, settle_days)}
    expected = {("3", "A", True): 1, ("4", "A", True): 1}
    for tier, age in (("A", 2), ("B", 20), ("C", 50)):  # open-recent, open-old, open-very-old
        if age >= settle_days:
            expected[("3", tier, False)] = expected.get(("3", tier, False), 0) + 1
    assert counts == expected
    assert sum(counts.values()) <= len(outcomes)


@pytest.mark.parametrize("seed", [3, 4])
def test_figures_per_model_version(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, outcomes = [], {}
    for i in range(400):
        version = "5" if i % 2 else "6"
        y = bool(rng.random() < 0.3)
        # version 5 ranks perfectly, version 6 at random
        p = (0.6 + 0.3 * rng.random() if y else 0.1 + 0.3 * rng.random()) if version == "5" else float(rng.random())
        rows.append(_row(f"k{i}", version, "A" if p > 0.5 else "B", p, 100 - i / 4))
        outcomes[f"k{i}"] = y
    by = {v.model_version: v for v in by_version(rows, outcomes)}
    assert set(by) == {"5", "6"} and by["5"].joined == by["6"].joined == 200
    assert by["5"].auc == 1.0 and by["6"].auc is not None and by["6"].auc < 0.7
    for v in by.values():
        assert v.conversion_rate == pytest.approx(v.conversions / v.joined)
        report = compute([r for r in rows if r["model_version"] == v.model_version], outcomes)
        assert v.conversion_by_tier == {t: x["rate"] for t, x in report.conversion_by_tier.items()}
        assert v.conversion_drop == report.conversion_drop


@pytest.fixture
def crm_and_log(crm_db: str, artifact: Path, shadow_artifact: Path, tmp_path: Path, monkeypatch) -> tuple[str, str]:
    """A CRM with outcomes for leads logged by two model versions (artifact v1, then shadow_artifact v2)."""
    monkeypatch.setenv("LEADSCORE_PII_SALT", SALT)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    uri = str(tmp_path / "inference_log")
    ids = {b: [f"L-{b}-{i}" for i in range(80)] for b in range(2)}
    for b, model in enumerate((artifact, shadow_artifact)):
        (tmp_path / f"w{b}").mkdir()
        batch = [(datetime(2026, 4, 1 + 10 * b, tzinfo=UTC), make_records(80, 60 + b))]
        write_log(tmp_path / f"w{b}", model, uri, batch, [[lead_key(x, SALT) for x in ids[b]]])
    rng = np.random.default_rng(5)
    with psycopg.connect(crm_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (lead_id text PRIMARY KEY, converted text)")
        for x in ids[0] + ids[1]:
            conn.execute("INSERT INTO leads VALUES (%s, %s)", (x, "true" if rng.random() < 0.3 else "false"))
    return crm_db, uri


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("leadscore_outcome")
    }


def test_the_job_reports_to_the_outcome_metrics_consumer(
    crm_and_log: tuple[str, str], server: Callable[..., Any], tmp_path: Path, monkeypatch, capsys
) -> None:
    dsn, uri = crm_and_log
    srv = server("outcome-metrics", MONITOR_STATE_DIR=str(tmp_path / "om"), MONITOR_ZERO_HOLD_SECONDS="0")
    monkeypatch.setenv("MONITOR_SETTLE_DAYS", "0")
    monkeypatch.setenv("LEADSCORE_DRIFT_CONVERSION_DROP_MAX", "0.37")  # an operator's threshold, not the default
    main(["--dsn", dsn, "--table-uri", uri, "--report-url", srv.url])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["report_status"] == 200
    assert out["event"]["conversion_drop_max"] == pytest.approx(0.37)
    assert out["business_signal"] == (out["conversion_drop"] is not None and out["conversion_drop"] > 0.37)
    versions = {v["model_version"]: v for v in out["event"]["versions"]}
    assert set(versions) == {"1", "2"}
    m = _metrics(srv.url)
    for v, figures in versions.items():
        assert m[("leadscore_outcome_auc", (("model_version", v),))] == pytest.approx(figures["auc"])
        assert figures["conversion_drop"] is not None
        # the alert's bound is the threshold this job applied, beside the drop under the same labels
        assert m[("leadscore_outcome_conversion_drop", (("model_version", v),))] == pytest.approx(
            figures["conversion_drop"]
        )
        assert m[("leadscore_outcome_conversion_drop_threshold", (("model_version", v),))] == pytest.approx(0.37)
        for tier, rate in figures["conversion_by_tier"].items():
            assert m[("leadscore_outcome_conversion_rate", (("model_version", v), ("tier", tier)))] == pytest.approx(
                rate
            )
    totals = {k: n for k, n in m.items() if k[0] == "leadscore_outcomes_total"}
    assert sum(totals.values()) == out["joined"] == 160  # settle 0: every joined lead, once
    converted = sum(n for (_, labels), n in totals.items() if ("converted", "true") in labels)
    assert converted == out["conversions"]
    # the next run sees the same log: a new report, the same totals
    main(["--dsn", dsn, "--table-uri", uri, "--report-url", srv.url])
    assert {k: n for k, n in _metrics(srv.url).items() if k[0] == "leadscore_outcomes_total"} == totals


@pytest.mark.parametrize("mode", ["closed", "blackhole"])
def test_an_undeliverable_report_fails_the_job_for_a_retry_in_bounded_time(
    crm_and_log: tuple[str, str], fault_server: Callable[..., Any], free_port: int, tmp_path: Path, monkeypatch, mode
) -> None:
    dsn, uri = crm_and_log
    port = free_port if mode == "closed" else fault_server("blackhole").port
    monkeypatch.setenv("MONITOR_REPORT_ATTEMPTS", "2")
    monkeypatch.setenv("MONITOR_REPORT_TIMEOUT_SECONDS", "1")
    started = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(["--dsn", dsn, "--table-uri", uri, "--report-url", f"http://127.0.0.1:{port}"])
    assert exc.value.code == TRANSIENT_EXIT_CODE
    assert time.monotonic() - started < 2 * 1 + 1 + 5  # two attempts of 1 s, a 1 s pause, reading the log
    (saved,) = (tmp_path / "home" / "reports" / "outcome").glob("outcome-*.json")
    body = json.loads(saved.read_text())
    assert "not delivered" in body["error"] and body["joined"] == 160  # the report is kept on disk


def test_a_refused_report_fails_the_job_without_a_retry(
    crm_and_log: tuple[str, str], server: Callable[..., Any], tmp_path: Path
) -> None:
    dsn, uri = crm_and_log
    sink = server("sink", MONITOR_STATE_DIR=str(tmp_path / "sink"), MONITOR_TABLE_URI=str(tmp_path / "other_log"))
    with pytest.raises(SystemExit) as exc:  # the sink accepts logger events only: a 4xx, not worth retrying
        main(["--dsn", dsn, "--table-uri", uri, "--report-url", sink.url])
    assert exc.value.code == 1
