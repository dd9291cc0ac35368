"""The outcome-metrics consumer: the outcome job's reports, stored durably and exported to Prometheus.

The outcome join (:mod:`leadscore_monitors.outcome`) is a batch job that nothing scrapes. Each run posts an
``ai.leadscore.outcome`` CloudEvent (:class:`~leadscore_core.events.OutcomeReportEvent`); this consumer records
it in its SQLite store (deduplicated by ce-id, acknowledged once committed) and exports, from the store:

* ``leadscore_outcome_auc{model_version}``, ``leadscore_outcome_conversion_rate{model_version,tier}`` and
  ``leadscore_outcome_conversion_drop{model_version}``: the newest report (by ``computed_at``);
* ``leadscore_outcome_conversion_drop_threshold{model_version}``: the business-signal threshold the job applied
  to that report (its ``conversion_drop_max``), one sample per exported drop with the same labels, so that the
  alert ``LeadConversionDrop`` compares each drop with the job's own threshold. A report without it (a job older
  than the field) exports none, and the alert falls back to the core default;
* ``leadscore_outcomes_total{model_version,tier,converted}``: settled outcomes, a counter. A report carries
  snapshot totals over the whole log; the counter adds each cell's increase over the cell's previous snapshot
  and never decreases (a lead that settled "not converted" and converts later is counted again under
  ``converted="true"``). The totals live in the store, so the counter survives restarts. A cell seen for the
  first time is exported at 0 for ``zero_hold_seconds`` first: Prometheus' ``increase()`` ignores the value a
  series appears with, so without the 0 a new model version's first count would never reach the canary KPI;
* ``leadscore_outcome_report_timestamp_seconds``: ``computed_at`` of the newest report (staleness).

A report older than the newest one applied (a late redelivery, an out-of-order retry) is kept in the history
but changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from leadscore_core.events import OUTCOME_TYPE, OutcomeReportEvent
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import ValidationError

from leadscore_monitors.cloudevent import BadEvent, LoggedEvent
from leadscore_monitors.consumer import Consumer

SCHEMA = """
CREATE TABLE IF NOT EXISTS outcome_reports (event_id TEXT PRIMARY KEY, computed_at REAL NOT NULL,
    received_at REAL NOT NULL, applied INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcome_counts (model_version TEXT NOT NULL, tier TEXT NOT NULL,
    converted INTEGER NOT NULL, snapshot INTEGER NOT NULL, total INTEGER NOT NULL, first_seen REAL NOT NULL,
    PRIMARY KEY (model_version, tier, converted)) WITHOUT ROWID;
"""
Cell = tuple[str, str, bool]


@dataclass(frozen=True)
class Exported:
    """What ``/metrics`` shows: the newest applied report and the counter totals (replaced as a whole)."""

    report: OutcomeReportEvent | None = None
    totals: dict[Cell, int] = field(default_factory=dict)
    first_seen: dict[Cell, float] = field(default_factory=dict)
    """When each cell first appeared (Unix time): exported at 0 until ``zero_hold_seconds`` later."""

    def visible_totals(self, now: float, hold: float) -> dict[Cell, int]:
        return {c: (n if now - self.first_seen.get(c, 0.0) >= hold else 0) for c, n in self.totals.items()}


def decode_report(body: Any) -> OutcomeReportEvent:
    """Validate a report body; :class:`BadEvent` (422) names the offending fields."""
    try:
        report = OutcomeReportEvent.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise BadEvent(422, f"outcome report does not match the schema: {where}", "contract") from exc
    seen: set[Cell] = set()
    for c in report.counts:
        cell = (c.model_version, c.tier, c.converted)
        if cell in seen:
            raise BadEvent(422, f"counts: cell {cell} appears twice", "contract")
        seen.add(cell)
    return report


def read_exported(conn: sqlite3.Connection, report: OutcomeReportEvent | None) -> Exported:
    rows = conn.execute("SELECT model_version, tier, converted, total, first_seen FROM outcome_counts").fetchall()
    totals = {(v, t, bool(c)): int(n) for v, t, c, n, _ in rows}
    return Exported(report, totals, {(v, t, bool(c)): float(f) for v, t, c, _, f in rows})


def apply_counts(conn: sqlite3.Connection, report: OutcomeReportEvent, now: float) -> None:
    """Add each cell's increase over its previous snapshot to its total (inside the open transaction)."""
    snapshot = {(c.model_version, c.tier, c.converted): c.leads for c in report.counts}
    stored = {
        (v, t, bool(c)): int(s)
        for v, t, c, s in conn.execute("SELECT model_version, tier, converted, snapshot FROM outcome_counts")
    }
    for cell in snapshot.keys() | stored.keys():
        new, old = snapshot.get(cell, 0), stored.get(cell, 0)
        conn.execute(
            "INSERT INTO outcome_counts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model_version, tier, converted) "
            "DO UPDATE SET snapshot = excluded.snapshot, total = total + ?",
            (cell[0], cell[1], int(cell[2]), new, new, now, max(new - old, 0)),
        )


class OutcomeMetricsConsumer(Consumer):
    """Subscribes to ``ai.leadscore.outcome`` report events."""

    component = "outcome-metrics"
    accepted_types = frozenset({OUTCOME_TYPE})

    def __init__(self, zero_hold_seconds: float = 120.0, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.zero_hold_seconds = zero_hold_seconds
        self.exported = Exported()
        self._staged: Exported | None = None
        self.registry.register(OutcomeCollector(self))

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)
        row = conn.execute(
            "SELECT body FROM outcome_reports WHERE applied = 1 ORDER BY computed_at DESC, received_at DESC LIMIT 1"
        ).fetchone()
        report = OutcomeReportEvent.model_validate_json(row[0]) if row else None
        self.exported = read_exported(conn, report)

    def decode(self, event: LoggedEvent) -> Any:
        return decode_report(event.body)

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        report: OutcomeReportEvent = decoded
        at = report.computed_at.timestamp()
        newest = conn.execute("SELECT MAX(computed_at) FROM outcome_reports WHERE applied = 1").fetchone()[0]
        applied = newest is None or at >= newest
        conn.execute(
            "INSERT INTO outcome_reports VALUES (?, ?, ?, ?, ?)",
            (event.id, at, time.time(), int(applied), report.model_dump_json()),
        )
        if applied:
            apply_counts(conn, report, time.time())
            self._staged = read_exported(conn, report)

    def settle(self, durable: bool) -> None:
        """The exported figures change only once the report that changes them is durable."""
        if durable and self._staged is not None:
            self.exported = self._staged
        self._staged = None

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        reports, applied = conn.execute("SELECT COUNT(*), COALESCE(SUM(applied), 0) FROM outcome_reports").fetchone()
        report = self.exported.report
        return {
            "reports": int(reports),
            "applied": int(applied),
            "newest": report.computed_at.isoformat() if report else None,
            "outcomes": [
                {"model_version": v, "tier": t, "converted": c, "total": n}
                for (v, t, c), n in sorted(self.exported.totals.items())
            ],
        }


class OutcomeCollector:
    """Renders :attr:`OutcomeMetricsConsumer.exported` at each scrape (a custom collector: the values are set
    from the store, not incremented)."""

    def __init__(self, consumer: OutcomeMetricsConsumer) -> None:
        self.consumer = consumer

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        state = self.consumer.exported
        totals = state.visible_totals(time.time(), self.consumer.zero_hold_seconds)
        outcomes = CounterMetricFamily(
            "leadscore_outcomes",
            "Settled CRM outcomes of logged leads (converted, or not converted after the settle period), "
            "by the model version and tier that scored them.",
            labels=["model_version", "tier", "converted"],
        )
        for (version, tier, converted), total in sorted(totals.items()):
            outcomes.add_metric([version, tier, json.dumps(converted)], total)
        yield outcomes
        yield from report_gauges(state.report)


def report_gauges(report: OutcomeReportEvent | None) -> Iterator[Metric]:
    """The newest report as gauges (none before the first report)."""
    auc = GaugeMetricFamily(
        "leadscore_outcome_auc", "Realised ROC-AUC of the logged scores vs CRM outcomes.", labels=["model_version"]
    )
    rate = GaugeMetricFamily(
        "leadscore_outcome_conversion_rate",
        "Realised conversion rate of the joined leads by tier.",
        labels=["model_version", "tier"],
    )
    drop = GaugeMetricFamily(
        "leadscore_outcome_conversion_drop",
        "1 - later/earlier half's conversion rate of the logged period (positive: fewer conversions).",
        labels=["model_version"],
    )
    threshold = GaugeMetricFamily(
        "leadscore_outcome_conversion_drop_threshold",
        "Conversion drop above which the outcome job raised its business signal (its conversion_drop_max).",
        labels=["model_version"],
    )
    stamp = GaugeMetricFamily(
        "leadscore_outcome_report_timestamp_seconds", "When the newest outcome report was computed (Unix time)."
    )
    if report is not None:
        stamp.add_metric([], report.computed_at.timestamp())
        for v in report.versions:
            if v.auc is not None:
                auc.add_metric([v.model_version], v.auc)
            if v.conversion_drop is not None:
                drop.add_metric([v.model_version], v.conversion_drop)
                if report.conversion_drop_max is not None:
                    threshold.add_metric([v.model_version], report.conversion_drop_max)
            for tier, value in sorted(v.conversion_by_tier.items()):
                rate.add_metric([v.model_version, tier], value)
    yield from (auc, rate, drop, threshold, stamp)
