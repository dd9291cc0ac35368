"""The drift detector service: windows of logged leads judged against the serving model's reference.

Request events add their leads (encoded once on arrival) to the open window; response events add
their scores. A window closes after ``window_size`` leads or ``window_seconds`` (whichever first),
is judged by the configured backend, and its result, the window deletion and any ``drift``
CloudEvent (outbox) are committed in one transaction: a restart mid-window loses and double-counts
nothing. Results become Prometheus gauges; the outbox is posted to the broker (``reply_url``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from leadscore_core.events import DRIFT_TYPE, REQUEST_TYPE, RESPONSE_TYPE, DriftEvent
from prometheus_client import CollectorRegistry, Counter, Gauge

from leadscore_monitors.cloudevent import LoggedEvent, reply_event
from leadscore_monitors.consumer import Consumer
from leadscore_monitors.detectors.base import DriftDetector, DriftResult, WindowData
from leadscore_monitors.payload import RequestDecoder, decode_response
from leadscore_monitors.settings import DriftSettings
from leadscore_monitors.store import rollback
from leadscore_monitors.verdict_metrics import VerdictGauges

OUTBOX_DONE = "DELETE FROM outbox WHERE id = ?"
OUTBOX_RETRY = "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?"

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS window_rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
    row INTEGER NOT NULL, ts REAL NOT NULL, x BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS window_scores (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
    row INTEGER NOT NULL, p REAL NOT NULL, tier TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS results (window INTEGER PRIMARY KEY, started REAL, ended REAL, n INTEGER,
    is_drift INTEGER, drifted TEXT, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, headers TEXT NOT NULL, body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0);
"""


def _window(matrix: np.ndarray, rows: list[Any], score_rows: list[Any]) -> WindowData:
    """The window's rows with each one's answer (probability, tier, top reason) joined by (ce-id, row)."""
    answers = {(r[2], r[3]): r for r in score_rows}
    joined = [answers.get((r[3], r[4])) for r in rows]
    return WindowData(
        matrix=matrix,
        scores=[r[1] for r in score_rows],
        row_scores=np.asarray([a[1] if a else np.nan for a in joined], dtype=np.float64),
        row_tiers=[a[4] if a else None for a in joined],
        row_reasons=[a[5] if a else None for a in joined],
    )


class DriftConsumer(Consumer):
    """Subscribes to request and response events of the serving model."""

    component = "drift-detector"
    accepted_types = frozenset({REQUEST_TYPE, RESPONSE_TYPE})

    def __init__(self, settings: DriftSettings, detector: DriftDetector, registry: CollectorRegistry | None = None):
        super().__init__(registry)
        self.settings = settings
        self.detector = detector
        ref = detector.reference
        self.decoder = RequestDecoder(ref.spec, settings.salt())
        self.features = ref.features
        labels = ["model_version", "feature"]
        r = self.registry
        self.g_psi = Gauge(
            "leadscore_drift_feature_psi", "PSI of the last window vs the reference.", labels, registry=r
        )
        self.g_kl = Gauge(
            "leadscore_drift_feature_kl", "KL(window || reference) of the last window.", labels, registry=r
        )
        self.g_p = Gauge("leadscore_drift_feature_p_value", "KS / chi-square p-value, last window.", labels, registry=r)
        self.g_drifted = Gauge(
            "leadscore_drift_feature_drifted", "1 when PSI > threshold in the last window.", labels, registry=r
        )
        self.g_missing = Gauge(
            "leadscore_drift_feature_missing_rate", "Missing share in the last window.", labels, registry=r
        )
        self.g_mean = Gauge(
            "leadscore_drift_feature_mean", "Mean of a numeric feature, last window.", labels, registry=r
        )
        self.g_std = Gauge("leadscore_drift_feature_std", "Std of a numeric feature, last window.", labels, registry=r)
        self.g_outliers = Gauge(
            "leadscore_drift_feature_outliers",
            "Outliers vs the reference, last window.",
            [*labels, "method"],
            registry=r,
        )
        self.g_score_psi = Gauge(
            "leadscore_drift_score_psi", "PSI of the score distribution, last window.", ["model_version"], registry=r
        )
        self.g_multi = Gauge(
            "leadscore_drift_multivariate",
            "Corrected multivariate verdict of the last window.",
            ["model_version", "backend"],
            registry=r,
        )
        self.g_open = Gauge("leadscore_drift_window_leads", "Leads in the open window.", ["model_version"], registry=r)
        self.c_windows = Counter(
            "leadscore_drift_windows", "Windows judged, by verdict.", ["model_version", "drift"], registry=r
        )
        self.c_emitted = Counter(
            "leadscore_drift_events_emitted",
            "drift CloudEvents delivered to the broker.",
            ["model_version"],
            registry=r,
        )
        self.verdict_gauges = VerdictGauges(r)
        self._open = 0
        """Committed leads in the open window (kept in memory: counting rows on every commit would be O(n))."""
        self._first: float | None = None
        self._staged = 0
        """Leads added by the group commit in flight; they join ``_open`` only once it is durable."""
        self._staged_first: float | None = None

    def _recount(self, conn: sqlite3.Connection) -> None:
        self._open, self._first = conn.execute("SELECT COUNT(*), MIN(ts) FROM window_rows").fetchone()
        self.g_open.labels(self.version).set(self._open)
        self.c_emitted.labels(self.version)  # present at 0: "no drift event yet" is a value, not a missing series

    # -- state ------------------------------------------------------------------------------
    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(window_scores)")}
        for col in ("tier", "reason"):  # state written before the reason/bias figures
            if col not in columns:
                conn.execute(f"ALTER TABLE window_scores ADD COLUMN {col} TEXT")
        last = conn.execute("SELECT result FROM results ORDER BY window DESC LIMIT 1").fetchone()
        if last:
            self._publish(DriftResult.model_validate_json(last[0]))
        self._recount(conn)

    @property
    def version(self) -> str:
        return self.detector.reference.model_version

    def decode(self, event: LoggedEvent) -> Any:
        if event.type == REQUEST_TYPE:
            leads = self.decoder.decode(event.body, event.metadata)
            return self.detector.encode([lead.features for lead in leads])
        return [
            (p.probability, p.tier, str(p.reasons[0].get("feature")) if p.reasons else None)
            for p in decode_response(event.body, self.decoder.encoder.feature_names)
        ]

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        now = datetime.now(UTC).timestamp()
        if event.type == REQUEST_TYPE:
            x: np.ndarray = decoded
            conn.executemany(
                "INSERT INTO window_rows (event_id, row, ts, x) VALUES (?, ?, ?, ?)",
                [(event.id, i, now, row.astype(np.float64).tobytes()) for i, row in enumerate(x)],
            )
            self._staged += len(x)
            if self._staged_first is None:
                self._staged_first = now
        else:
            conn.executemany(
                "INSERT INTO window_scores (event_id, row, p, tier, reason) VALUES (?, ?, ?, ?, ?)",
                [(event.id, i, float(p), tier, reason) for i, (p, tier, reason) in enumerate(decoded)],
            )

    def settle(self, durable: bool) -> None:
        """Count the staged leads only if their commit is durable: a window never closes on unwritten rows."""
        if durable and self._staged:
            self._open += self._staged
            if self._first is None:
                self._first = self._staged_first
        self._staged, self._staged_first = 0, None

    # -- windows ----------------------------------------------------------------------------
    def maintain(self, conn: sqlite3.Connection, now: float) -> None:
        s = self.settings
        while True:
            n, first = self._open, self._first
            if n >= s.window_size:
                self._close(conn, s.window_size)
                continue
            if n and now == float("inf"):
                self._close(conn, n)
                continue
            if n >= s.min_window and first is not None and now - first >= s.window_seconds:
                self._close(conn, n)
                continue
            break
        self.g_open.labels(self.version).set(self._open)

    def _close(self, conn: sqlite3.Connection, size: int) -> DriftResult:
        rows = conn.execute(
            "SELECT seq, ts, x, event_id, row FROM window_rows ORDER BY seq LIMIT ?", (size,)
        ).fetchall()
        last_seq = rows[-1][0]
        matrix = np.vstack([np.frombuffer(r[2], dtype=np.float64) for r in rows])
        score_rows = conn.execute(
            "SELECT seq, p, event_id, row, tier, reason FROM window_scores ORDER BY seq"
        ).fetchall()
        result = self.detector.predict(_window(matrix, rows, score_rows))
        started, ended = rows[0][1], rows[-1][1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            window = conn.execute("SELECT COALESCE(MAX(window), 0) + 1 FROM results").fetchone()[0]
            conn.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    window,
                    started,
                    ended,
                    result.n,
                    int(result.is_drift),
                    json.dumps(result.drifted_features),
                    result.model_dump_json(),
                ),
            )
            conn.execute("DELETE FROM window_rows WHERE seq <= ?", (last_seq,))
            if score_rows:
                conn.execute("DELETE FROM window_scores WHERE seq <= ?", (score_rows[-1][0],))
            if result.is_drift and self.settings.reply_url:
                event = self._drift_event(result, started, ended)
                ce_id = f"drift-{self.detector.reference.model_name}-{self.version}-{window}"
                headers, body = reply_event(
                    DRIFT_TYPE, ce_id, self.settings.event_source, event.model_dump(mode="json")
                )
                conn.execute(
                    "INSERT OR IGNORE INTO outbox (id, headers, body) VALUES (?, ?, ?)",
                    (ce_id, json.dumps(headers), body),
                )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        self._recount(conn)
        self._publish(result)
        self.c_windows.labels(self.version, str(result.is_drift).lower()).inc()
        log.info("window %d: n=%d drift=%s features=%s", window, result.n, result.is_drift, result.drifted_features)
        return result

    def _drift_event(self, result: DriftResult, started: float, ended: float) -> DriftEvent:
        ref = self.detector.reference
        return DriftEvent(
            model_name=ref.model_name,
            model_version=ref.model_version,
            window_start=datetime.fromtimestamp(started, UTC),
            window_end=datetime.fromtimestamp(ended, UTC),
            n_events=result.n,
            drifted_features=result.drifted_features,
            psi={k: round(v.psi, 6) for k, v in result.features.items()},
            kl={k: round(v.kl, 6) for k, v in result.features.items()},
            p_values={k: v.p_value for k, v in result.features.items() if v.p_value is not None},
            score_psi=result.score_psi,
            threshold=result.threshold,
        )

    def _publish(self, result: DriftResult) -> None:
        v = self.version
        self.verdict_gauges.publish(v, result)
        for name, fd in result.features.items():
            self.g_psi.labels(v, name).set(fd.psi)
            self.g_kl.labels(v, name).set(fd.kl)
            if fd.p_value is not None:
                self.g_p.labels(v, name).set(fd.p_value)
            self.g_drifted.labels(v, name).set(1.0 if fd.drifted else 0.0)
        for name, rate in result.missing_rates.items():
            self.g_missing.labels(v, name).set(rate)
        for name, st in result.stats.items():
            if st.mean is not None:
                self.g_mean.labels(v, name).set(st.mean)
            if st.std is not None:
                self.g_std.labels(v, name).set(st.std)
            self.g_outliers.labels(v, name, "iqr").set(st.outliers_iqr)
            self.g_outliers.labels(v, name, "zscore").set(st.outliers_z)
        if result.score_psi is not None:
            self.g_score_psi.labels(v).set(result.score_psi)
        if result.multivariate_drift is not None:
            self.g_multi.labels(v, result.backend).set(1.0 if result.multivariate_drift else 0.0)

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        rows = conn.execute("SELECT window, n, is_drift, drifted, result FROM results ORDER BY window").fetchall()
        pending = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return {
            "model_name": self.detector.reference.model_name,
            "model_version": self.version,
            "backend": self.detector.backend,
            "config": self.detector.get_config(),
            "open_window_leads": conn.execute("SELECT COUNT(*) FROM window_rows").fetchone()[0],
            "windows": [
                {"window": w, "n": n, "is_drift": bool(d), "drifted_features": json.loads(f), "result": json.loads(r)}
                for w, n, d, f, r in rows
            ],
            "outbox_pending": pending,
        }

    # -- outbox -----------------------------------------------------------------------------
    async def background(self) -> None:
        url = self.settings.reply_url
        if not url:
            await asyncio.Event().wait()
            return
        assert self.store is not None
        store = self.store.run
        async with httpx.AsyncClient(timeout=self.settings.reply_timeout_seconds) as client:
            while True:
                rows = await store(lambda c: c.execute("SELECT id, headers, body FROM outbox LIMIT 50").fetchall())
                for ce_id, headers, body in rows:
                    try:
                        resp = await client.post(url, headers=json.loads(headers), content=body)
                        ok = resp.status_code < 300
                    except httpx.HTTPError as exc:
                        log.warning("drift event %s not delivered: %s: %s", ce_id, type(exc).__name__, exc)
                        ok = False
                    sql = OUTBOX_DONE if ok else OUTBOX_RETRY

                    def settle(c: sqlite3.Connection, query: str = sql, i: str = ce_id) -> sqlite3.Cursor:
                        return c.execute(query, (i,))

                    await store(settle)
                    if ok:
                        self.c_emitted.labels(self.version).inc()
                await asyncio.sleep(0.5 if not rows else 0.05)
