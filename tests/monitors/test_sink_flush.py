"""Delta appends run beside the writer: a due batch does not block, a failed append is retried, /flush waits."""

from __future__ import annotations

import threading
from pathlib import Path

from deltalake import DeltaTable

from leadscore_monitors import sink as sink_module
from leadscore_monitors.settings import SinkSettings
from leadscore_monitors.sink import SinkConsumer as Sink
from leadscore_monitors.store import connect

META = {
    "event_time": 1_780_000_000.0,
    "inference_service": "lead-scoring",
    "namespace": "leadscore",
    "component": "predictor",
    "endpoint": "default",
}


def _stage(sink: Sink, conn, n: int, start: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for i in range(start, start + n):
        req = {"meta": META, "leads": [{"lead_key": f"k{i}", "features": {"web_visits": float(i)}}]}
        resp = {
            "meta": META,
            "preds": [
                {"model_name": "m", "model_version": "1", "probability": 0.5, "score": 50, "tier": "B", "reasons": []}
            ],
        }
        sink._stage(conn, f"ev-{i}", req, resp)
    conn.execute("COMMIT")
    sink.settle(True)  # what EventStore does after a durable commit


def test_due_batch_is_written_apart_failure_retried_and_flush_waits(tmp_path: Path, monkeypatch) -> None:
    uri = str(tmp_path / "inference_log")
    sink = Sink(SinkSettings(table_uri=uri, flush_rows=10, flush_seconds=3600))
    conn = connect(tmp_path / "sink.db")
    sink.setup(conn)
    gate = threading.Event()
    calls: list[int] = []
    real_write = sink_module.write_deltalake

    def slow_then_flaky(*args, **kwargs):
        calls.append(len(args[1]))
        gate.wait(10)  # hold the first append until the writer has moved on
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(sink_module, "write_deltalake", slow_then_flaky)
    _stage(sink, conn, 12, 0)
    sink.maintain(conn, 1.0)  # due (12 >= 10): handed to the flush thread, maintain returns at once
    assert sink._inflight is not None and not sink._inflight[1].done()
    _stage(sink, conn, 5, 12)  # the writer goes on staging while the append is held
    sink.maintain(conn, 2.0)  # not due (5 < 10) and one flush in flight: nothing new started
    assert sink._staged == 5
    gate.set()
    sink.maintain(conn, float("inf"))  # /flush: waits, sees the failure, retries the batch, writes the rest
    table = DeltaTable(uri).to_pyarrow_table()
    assert sorted(table["event_id"].to_pylist()) == sorted(f"ev-{i}" for i in range(17))
    assert calls == [12, 12, 5]  # first batch failed once, written once; then the remaining 5
    assert sink.stats(conn)["staged_rows"] == 0 and sink.stats(conn)["rows_written"] == 17
    conn.close()


def test_a_batch_left_in_flight_by_a_crash_is_written_once_at_restart(tmp_path: Path, monkeypatch) -> None:
    uri = str(tmp_path / "inference_log")
    sink = Sink(SinkSettings(table_uri=uri, flush_rows=10, flush_seconds=3600))
    conn = connect(tmp_path / "sink.db")
    sink.setup(conn)
    _stage(sink, conn, 10, 0)
    sink._assign(conn)  # the batch got its flush id, then the process died before the append
    conn.close()
    again = Sink(SinkSettings(table_uri=uri, flush_rows=10, flush_seconds=3600))
    conn = connect(tmp_path / "sink.db")
    again.setup(conn)  # recovery writes it
    again.setup(conn)  # a second restart finds it landed: not written twice
    table = DeltaTable(uri).to_pyarrow_table()
    assert table.num_rows == 10 and len(set(table["event_id"].to_pylist())) == 10
    assert again.stats(conn)["staged_rows"] == 0
    conn.close()
