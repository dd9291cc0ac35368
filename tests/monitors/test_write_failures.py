"""Counts change only after a durable write: a failing commit (SQLite's full-disk behaviour, injected at
the connection) leaves no window, no count and no drift verdict behind, is logged with its own error,
counted in ``leadscore_monitor_write_errors_total`` and turns ``/healthz`` and ``leadscore_ready`` to failing."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadscore_core.events import REQUEST_TYPE
from leadscore_monitors.cloudevent import logger_event
from leadscore_monitors.consumer import build_app
from leadscore_monitors.detectors.base import build_detector
from leadscore_monitors.drift import DriftConsumer
from leadscore_monitors.reference import load_reference
from leadscore_monitors.settings import DriftSettings
from leadscore_monitors.testkit.events import scored_pairs
from leadscore_monitors.testkit.synth import make_records

FULL = "database or disk is full"


class FullDisk:
    """A sqlite3 connection whose ``COMMIT`` fails while ``full`` is set, as on a full disk: SQLite has
    already rolled the transaction back, so a later ``ROLLBACK`` would fail with "no transaction"."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.full = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.full and sql.strip().upper() == "COMMIT":
            self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError(FULL)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def metric(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name))
    return float(line.rsplit(" ", 1)[1])


def post(client: TestClient, ce_id: str, body: dict) -> int:
    raw = json.dumps(body).encode()
    headers, data = logger_event(
        REQUEST_TYPE, ce_id, raw, source="http://localhost/", inferenceservicename="lead-scoring", namespace="t"
    )
    return client.post("/", headers=headers, content=data).status_code


@pytest.mark.parametrize(("window", "batch"), [(50, 5), (30, 3)])
def test_failed_commits_close_no_window_and_count_nothing(
    artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, window: int, batch: int
) -> None:
    settings = DriftSettings(model_dir=artifact, state_dir=tmp_path, window_size=window, min_window=5)
    consumer = DriftConsumer(settings, build_detector("alibi", load_reference(artifact)))
    pairs = scored_pairs(artifact, make_records(window * 3, 31), batch=batch)
    app = build_app(consumer, tmp_path, tick_seconds=0.05, unhealthy_after=3)
    caplog.set_level(logging.INFO)
    with TestClient(app) as client:
        assert consumer.store is not None
        disk = FullDisk(consumer.store.conn)
        consumer.store.conn = disk  # type: ignore[assignment]
        before = client.get("/metrics").text
        assert metric(before, 'leadscore_monitor_write_errors_total{consumer="drift-detector"}') == 0
        assert metric(before, 'leadscore_ready{component="drift-detector"}') == 1
        ok = pairs[: window // batch - 1]  # one batch short of a full window
        assert all(post(client, ce, req) == 200 for ce, req, _ in ok)
        disk.full = True
        failed = pairs[len(ok) : len(ok) + 6]  # would overfill the window
        assert all(post(client, ce, req) == 500 for ce, req, _ in failed)
        stats = client.get("/stats").json()
        assert stats["windows"] == [] and stats["open_window_leads"] == len(ok) * batch
        assert consumer._open == len(ok) * batch  # the in-memory count matches what is on disk
        assert stats["counters"]["recorded"] == len(ok)
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "failing"
        text = client.get("/metrics").text
        assert metric(text, 'leadscore_monitor_write_errors_total{consumer="drift-detector"}') >= 3
        assert metric(text, 'leadscore_ready{component="drift-detector"}') == 0
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert FULL in logged and "cannot rollback" not in logged
        # the disk has room again: the redelivered events are recorded, the window closes on real rows
        disk.full = False
        assert all(post(client, ce, req) == 200 for ce, req, _ in failed)
        stats = client.get("/stats").json()
        assert [w["n"] for w in stats["windows"]] == [window]
        assert stats["open_window_leads"] == (len(ok) + len(failed)) * batch - window
        assert client.get("/healthz").status_code == 200
        assert metric(client.get("/metrics").text, 'leadscore_ready{component="drift-detector"}') == 1


def test_failed_window_close_is_not_counted(artifact: Path, tmp_path: Path) -> None:
    """The window's own commit fails: no result row, the leads stay in the open window, the error is counted."""
    settings = DriftSettings(model_dir=artifact, state_dir=tmp_path, window_size=20, min_window=5)
    consumer = DriftConsumer(settings, build_detector("alibi", load_reference(artifact)))
    pairs = scored_pairs(artifact, make_records(40, 32), batch=4)
    with TestClient(build_app(consumer, tmp_path, tick_seconds=3600)) as client:
        assert consumer.store is not None
        disk = FullDisk(consumer.store.conn)
        consumer.store.conn = disk  # type: ignore[assignment]
        assert all(post(client, ce, req) == 200 for ce, req, _ in pairs[:4])  # 16 leads
        original = consumer._close

        def close_on_full_disk(conn: Any, size: int) -> Any:
            disk.full = True
            try:
                return original(conn, size)
            finally:
                disk.full = False

        consumer._close = close_on_full_disk  # type: ignore[method-assign]
        assert post(client, *pairs[4][:2]) == 200  # 20 leads: the events commit, the window close does not
        stats = client.get("/stats").json()
        assert stats["windows"] == [] and stats["open_window_leads"] == 20
        text = client.get("/metrics").text
        assert metric(text, 'leadscore_monitor_write_errors_total{consumer="drift-detector"}') == 1
        assert "leadscore_drift_windows_total{" not in text  # no verdict counted
        consumer._close = original  # type: ignore[method-assign]
        assert post(client, *pairs[5][:2]) == 200
        assert [w["n"] for w in client.get("/stats").json()["windows"]] == [20]
