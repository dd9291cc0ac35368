"""The inference-log sink: request + response joined by ce-id into the bronze Delta table.

One row per lead: event id and row, event time, inference service / endpoint, model name and version,
salted lead key, every contract feature (clean values, never PII), probability, score, tier and reason
codes. Joined rows are staged in SQLite (durable before the ack) and appended to Delta in batches; a
batch carries a ``_flush_id`` so a crash between the Delta commit and the SQLite cleanup is detected at
restart and the batch is not written twice. A due batch is written by its own thread (with its own SQLite
connection), so acknowledgements never wait for a Delta commit; ``/flush`` waits for it and writes the rest.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE
from leadscore_core.storage import storage_options
from prometheus_client import CollectorRegistry, Counter, Gauge

from leadscore_monitors import joiner
from leadscore_monitors.cloudevent import LoggedEvent
from leadscore_monitors.consumer import Consumer
from leadscore_monitors.payload import RequestDecoder, decode_response
from leadscore_monitors.settings import SinkSettings
from leadscore_monitors.store import connect

log = logging.getLogger(__name__)

FLUSH_ATTEMPTS = 5
"""Appends of one batch a waiting ``/flush`` tries before it reports the failure."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS staged (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, data TEXT NOT NULL,
    flush_id INTEGER);
CREATE TABLE IF NOT EXISTS flushes (flush_id INTEGER PRIMARY KEY, rows INTEGER, delta_version INTEGER, at REAL);
"""


def log_schema(spec: FeatureSpec) -> pa.Schema:
    """Arrow schema of the bronze inference log for a contract."""
    ts = pa.timestamp("us", tz="UTC")
    fields = [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("event_time", ts),
        pa.field("logged_at", ts),
        pa.field("date", pa.string()),
        pa.field("inference_service", pa.string()),
        pa.field("namespace", pa.string()),
        pa.field("component", pa.string()),
        pa.field("endpoint", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("lead_key", pa.string()),
    ]
    for f in spec.features:
        kind = {"numeric": pa.float64(), "boolean": pa.bool_()}.get(f.type, pa.string())
        fields.append(pa.field(f.name, kind))
    fields += [
        pa.field("probability", pa.float64()),
        pa.field("score", pa.int32()),
        pa.field("tier", pa.string()),
        pa.field("reasons", pa.string()),
        pa.field("joined", pa.bool_()),
        pa.field("_flush_id", pa.int64()),
    ]
    return pa.schema(fields)


class SinkConsumer(Consumer):
    """Subscribes to request and response events; writes the bronze inference log."""

    component = "inference-log"
    accepted_types = frozenset({REQUEST_TYPE, RESPONSE_TYPE})

    def __init__(
        self, settings: SinkSettings, spec: FeatureSpec | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__(registry)
        self.settings = settings
        self.spec = spec or load_spec(settings.spec)
        self.decoder = RequestDecoder(self.spec, settings.salt())
        self.uri = settings.resolved_table_uri()
        self.schema = log_schema(self.spec)
        self.c_rows = Counter(
            "leadscore_inference_log_rows",
            "Rows appended to the Delta inference log.",
            ["joined"],
            registry=self.registry,
        )
        self.g_staged = Gauge(
            "leadscore_inference_log_staged_rows",
            "Joined rows waiting for the next Delta commit.",
            registry=self.registry,
        )
        self._staged = 0
        """Rows staged and not yet assigned to a flush."""
        self._oldest: float | None = None
        self._uncommitted = 0
        self._uncommitted_oldest: float | None = None
        self._db: Path | None = None
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-flush")
        self._inflight: tuple[int, Future[None]] | None = None
        self.g_pending = Gauge(
            "leadscore_inference_log_unjoined", "Request/response halves waiting for a partner.", registry=self.registry
        )

    def setup(self, conn: sqlite3.Connection) -> None:
        joiner.setup(conn)
        conn.executescript(SCHEMA)
        self._db = Path(conn.execute("PRAGMA database_list").fetchone()[2])
        self._recover(conn)
        self._count_unassigned(conn)

    def decode(self, event: LoggedEvent) -> Any:
        meta = {
            "event_time": event.time.timestamp(),
            "inference_service": event.inferenceservicename,
            "namespace": event.namespace,
            "component": event.component,
            "endpoint": event.endpoint,
        }
        if event.type == REQUEST_TYPE:
            leads = self.decoder.decode(event.body, event.metadata)
            return {"meta": meta, "leads": [{"lead_key": x.lead_key, "features": x.features} for x in leads]}
        preds = decode_response(event.body, self.decoder.encoder.feature_names)
        return {"meta": meta, "preds": [p.__dict__ for p in preds]}

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        kind = "request" if event.type == REQUEST_TYPE else "response"
        pair = joiner.offer(conn, event.id, kind, time.time(), decoded)
        if pair is not None:
            self._stage(conn, event.id, pair[0], pair[1])

    def _stage(self, conn: sqlite3.Connection, event_id: str, req: Any, resp: Any) -> None:
        now = time.time()
        leads = req["leads"] if req else []
        preds = resp["preds"] if resp else []
        meta = (req or resp)["meta"]
        rows = []
        for i in range(max(len(leads), len(preds))):
            lead = leads[i] if i < len(leads) else {"lead_key": None, "features": {}}
            pred = preds[i] if i < len(preds) else {}
            rows.append(
                {
                    "event_id": event_id,
                    "row": i,
                    **meta,
                    "lead_key": lead["lead_key"],
                    "features": lead["features"],
                    "model_name": pred.get("model_name"),
                    "model_version": pred.get("model_version"),
                    "probability": pred.get("probability"),
                    "score": pred.get("score"),
                    "tier": pred.get("tier"),
                    "reasons": pred.get("reasons") or [],
                    "joined": bool(req and resp),
                }
            )
        conn.executemany("INSERT INTO staged (ts, data) VALUES (?, ?)", [(now, json.dumps(r)) for r in rows])
        self._uncommitted += len(rows)
        if self._uncommitted_oldest is None:
            self._uncommitted_oldest = now

    def settle(self, durable: bool) -> None:
        """Staged rows count towards a flush only once their commit is durable."""
        if durable and self._uncommitted:
            self._staged += self._uncommitted
            if self._oldest is None:
                self._oldest = self._uncommitted_oldest
        self._uncommitted, self._uncommitted_oldest = 0, None

    # -- flushing to Delta ------------------------------------------------------------------
    def maintain(self, conn: sqlite3.Connection, now: float) -> None:
        s = self.settings
        force = now == float("inf")
        cutoff = (time.time() if force else now) - s.pending_ttl_seconds
        orphans = joiner.expired(conn, cutoff) if not force else []
        for event_id, kind, payload in orphans:
            conn.execute("BEGIN IMMEDIATE")
            self._stage(conn, event_id, payload if kind == "request" else None, payload if kind == "response" else None)
            conn.execute("COMMIT")
        self._settle(wait=force)
        n, oldest = self._staged, self._oldest
        due = n > 0 and (n >= s.flush_rows or (oldest is not None and now - oldest >= s.flush_seconds))
        if force:
            if n:
                self._write(conn, self._assign(conn))
        elif due and self._inflight is None:
            flush_id = self._assign(conn)
            self._inflight = (flush_id, self._flusher.submit(self._write_apart, flush_id))
        self.g_staged.set(self._staged)

    def _settle(self, wait: bool) -> None:
        """Collect the background flush when it finished (or wait for it); a failed one is resubmitted.

        Waiting (``/flush``) retries a failing batch at most ``FLUSH_ATTEMPTS`` times, then raises with the
        batch still staged under its flush id (the next maintenance or restart writes it).
        """
        for _ in range(FLUSH_ATTEMPTS):
            if self._inflight is None:
                return
            flush_id, fut = self._inflight
            if not wait and not fut.done():
                return
            exc = fut.exception()
            if exc is None:
                self._inflight = None
                return
            # the batch keeps its flush id and stays staged: write it again
            log.error("Delta append of flush %d failed, retrying: %s: %s", flush_id, type(exc).__name__, exc)
            self._inflight = (flush_id, self._flusher.submit(self._write_apart, flush_id))
            if not wait:
                return
        raise RuntimeError(f"Delta append of flush {self._inflight[0] if self._inflight else '?'} kept failing")

    def _assign(self, conn: sqlite3.Connection) -> int:
        """Give every unassigned staged row the next flush id (one short write transaction)."""
        conn.execute("BEGIN IMMEDIATE")
        flush_id = int(conn.execute("SELECT COALESCE(MAX(flush_id), 0) + 1 FROM flushes").fetchone()[0])
        conn.execute("UPDATE staged SET flush_id = ? WHERE flush_id IS NULL", (flush_id,))
        conn.execute("INSERT INTO flushes (flush_id, rows, at) VALUES (?, 0, ?)", (flush_id, time.time()))
        conn.execute("COMMIT")
        self._staged, self._oldest = 0, None
        return flush_id

    def _count_unassigned(self, conn: sqlite3.Connection) -> None:
        n, oldest = conn.execute("SELECT COUNT(*), MIN(ts) FROM staged WHERE flush_id IS NULL").fetchone()
        self._staged, self._oldest = int(n), oldest

    def _write_apart(self, flush_id: int) -> None:
        """:meth:`_write` on the flush thread, with a connection of its own (WAL: the writer goes on)."""
        assert self._db is not None
        conn = connect(self._db, self.settings.sqlite_synchronous)
        try:
            self._write(conn, flush_id)
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, flush_id: int) -> None:
        rows = [json.loads(d) for (d,) in conn.execute("SELECT data FROM staged WHERE flush_id = ?", (flush_id,))]
        if rows:
            table = self._arrow(rows, flush_id)
            write_deltalake(
                self.uri,
                table,
                mode="append",
                partition_by=["date"],
                schema_mode="merge",
                storage_options=storage_options(self.uri),
            )
            joined = sum(1 for r in rows if r["joined"])
            self.c_rows.labels("true").inc(joined)
            self.c_rows.labels("false").inc(len(rows) - joined)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM staged WHERE flush_id = ?", (flush_id,))
        conn.execute("UPDATE flushes SET rows = ? WHERE flush_id = ?", (len(rows), flush_id))
        conn.execute("COMMIT")

    def _recover(self, conn: sqlite3.Connection) -> None:
        """Finish a flush interrupted by a crash: skip the Delta write if that batch already landed."""
        ids = [r[0] for r in conn.execute("SELECT DISTINCT flush_id FROM staged WHERE flush_id IS NOT NULL")]
        for flush_id in ids:
            if self._landed(flush_id):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM staged WHERE flush_id = ?", (flush_id,))
                conn.execute("COMMIT")
            else:
                self._write(conn, flush_id)

    def _landed(self, flush_id: int) -> bool:
        try:
            dataset = DeltaTable(self.uri, storage_options=storage_options(self.uri)).to_pyarrow_dataset()
        except Exception:  # no table yet
            return False
        return dataset.count_rows(filter=pc.field("_flush_id") == flush_id) > 0

    def _arrow(self, rows: list[dict[str, Any]], flush_id: int) -> pa.Table:
        now = datetime.now(UTC)
        cols: dict[str, list[Any]] = {f.name: [] for f in self.schema}
        for r in rows:
            t = datetime.fromtimestamp(r["event_time"], UTC)
            base = {
                "event_id": r["event_id"],
                "row": r["row"],
                "event_time": t,
                "logged_at": now,
                "date": t.date().isoformat(),
                "inference_service": r.get("inference_service"),
                "namespace": r.get("namespace"),
                "component": r.get("component"),
                "endpoint": r.get("endpoint"),
                "model_name": r.get("model_name"),
                "model_version": r.get("model_version"),
                "lead_key": r.get("lead_key"),
                "probability": r.get("probability"),
                "score": r.get("score"),
                "tier": r.get("tier"),
                "reasons": json.dumps(r.get("reasons") or []),
                "joined": r["joined"],
                "_flush_id": flush_id,
            }
            for f in self.spec.features:
                v = r["features"].get(f.name)
                base[f.name] = None if v is None else (v if f.type in ("numeric", "boolean") else str(v))
            for k in cols:
                cols[k].append(base.get(k))
        return pa.Table.from_pydict(cols, schema=self.schema)

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        self.g_pending.set(joiner.count(conn))
        written = conn.execute("SELECT COALESCE(SUM(rows), 0), COUNT(*) FROM flushes").fetchone()
        return {
            "table_uri": self.uri,
            "rows_written": int(written[0]),
            "delta_commits": int(written[1]),
            "staged_rows": conn.execute("SELECT COUNT(*) FROM staged").fetchone()[0],
            "unjoined": joiner.count(conn),
        }
