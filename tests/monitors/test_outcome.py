"""Outcome feedback against a real PostgreSQL CRM table and a real Delta inference log."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from logfixture import write_log
from synth import make_records

from leadscore_core.contract import load_spec
from leadscore_core.events import lead_key
from leadscore_monitors.logtable import read_log
from leadscore_monitors.outcome import auc, compute, crm_outcomes, main

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
