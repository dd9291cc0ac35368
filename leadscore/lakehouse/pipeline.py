"""One medallion run: raw batch -> bronze (+ quarantine) -> silver -> gold, gated, counted, versioned.

Everything is computed lazily and checked by the quality gates *before* the first Delta write, so a
gate breach leaves bronze/silver/gold and the source watermark untouched; it still appends the batch's
rejects (with their reasons) to ``bronze/quarantine`` and stores the run record with the failed gate and
the top reasons, so the cause is on disk. Otherwise each table is written (one Delta version each), the
source state is committed and the run report is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from leadscore.lakehouse import bronze, gold, quality, silver
from leadscore.lakehouse.counts import LayerCounts, RunReport
from leadscore.lakehouse.delta_io import DeltaIO, Mode
from leadscore.lakehouse.sources import RawBatch, TextLines
from leadscore.objectstore import ObjectStore
from leadscore_core.contract import FeatureSpec
from leadscore_core.lake import (
    BRONZE_EVENTS,
    BRONZE_LEADS,
    GOLD_FEATURES,
    GOLD_TRUTH,
    QUARANTINE,
    SILVER_EVENTS,
    SILVER_LEADS,
    TABLES,
    commit_metadata,
)

Step = Callable[[str], None]


def new_batch_id(now: datetime) -> str:
    """Sortable, unique batch id (``20260101T120000-ab12cd``)."""
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _count_split(df: DataFrame) -> tuple[int, int]:
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("_reason").isNotNull().cast("int")).alias("bad")).collect()[
        0
    ]
    return int(row["n"]), int(row["bad"] or 0)


def run_pipeline(
    spark: SparkSession, spec: FeatureSpec, batch: RawBatch, lake: ObjectStore, step: Step | None = None
) -> RunReport:
    """Run the medallion for one raw batch.

    Args:
        spark: the session (local or cluster).
        spec: the feature contract.
        batch: raw input from :mod:`leadscore.lakehouse.sources` / :mod:`leadscore.lakehouse.crm_source`.
        lake: the lake root (local or ``s3://``).
        step: progress callback, called with a description before each long step.

    Returns:
        The run report (also stored under ``_runs/``).

    Raises:
        quality.GateError: a gate failed; only the quarantine and the run record (``error.report``) were
            written, the watermark did not move.
        bronze.SchemaError: the source lacks columns the contract needs.
    """
    t0 = time.monotonic()
    marks: list[tuple[str, float]] = []

    def say(msg: str) -> None:
        marks.append((msg, time.monotonic()))
        if step:
            step(msg)

    now = datetime.now(UTC)
    io = DeltaIO(spark, lake.root, store=lake)
    meta = bronze.BatchMeta(batch.source, new_batch_id(now), now)
    report = RunReport(
        batch_id=meta.batch_id,
        spec=spec.name,
        source=batch.source,
        lake=str(lake.root),
        engine=io.engine,
        started_at=now.isoformat(),
        notes=list(batch.notes),
        time_order=spec.time_order.describe(),
    )
    gates: list[quality.GateResult] = []
    writes: list[tuple[str, DataFrame, Mode]] = []
    quarantined: list[DataFrame] = []
    with ExitStack() as cleanup:
        cleanup.callback(io.close)  # after every unpersist: local snapshot copies back the cached frames
        n_leads = batch.leads.num_rows + batch.rejected.num_rows
        report.counts[BRONZE_LEADS] = LayerCounts()
        if spec.events is not None:
            report.counts[BRONZE_EVENTS] = LayerCounts()
        upsert = None
        if n_leads:
            say(f"bronze: validating {n_leads:,} lead rows")
            validated = bronze.validate_leads(spark, batch, spec).persist()
            cleanup.callback(validated.unpersist)
            n_rows, n_bad = _count_split(validated)
            n_rej = batch.rejected.num_rows
            report.counts[BRONZE_LEADS] = LayerCounts(n_rows + n_rej, n_rows - n_bad, n_bad + n_rej, 0)
            gates.append(quality.quarantine_rate("bronze.leads", n_rows + n_rej, n_bad + n_rej, spec))
            writes.append((BRONZE_LEADS, bronze.bronze_leads(validated, meta), "append"))
            quarantine = bronze.quarantine_leads(validated, meta, BRONZE_LEADS)
            if n_rej:
                quarantine = quarantine.unionByName(bronze.quarantine_lines(spark, batch.rejected, meta, BRONZE_LEADS))
            quarantined.append(quarantine)
            say("silver: typing, dedupe by lead id (latest updated_at wins)")
            existing = io.read(SILVER_LEADS) if io.exists(SILVER_LEADS) else None
            upsert = silver.upsert_leads(existing, silver.clean_leads(validated, spec, meta), meta.batch_id)
            silver_leads = upsert.table.persist()
            cleanup.callback(silver_leads.unpersist)
            report.counts[SILVER_LEADS] = LayerCounts(
                upsert.new_in,
                upsert.new_kept,
                0,
                upsert.new_in - upsert.new_kept,
                note=f"{upsert.replaced} older silver rows replaced",
            )
            gates += quality.table_gates(silver_leads, spec, "silver", [f.name for f in spec.crm_features])
            writes.append((SILVER_LEADS, silver_leads, "overwrite"))
        new_events = 0
        lines, n_lines = (None, 0)
        if spec.events is not None and batch.events is not None and not _no_events(batch):
            say("bronze: reading web events")
            lines, n_lines = bronze.event_lines(spark, batch.events)
        if lines is not None and n_lines:
            say(f"bronze: parsing {n_lines:,} web events")
            parsed = bronze.parse_events(spark, lines, spec).persist()
            cleanup.callback(parsed.unpersist)
            n_ev, n_ev_bad = _count_split(parsed)
            report.counts[BRONZE_EVENTS] = LayerCounts(n_ev, n_ev - n_ev_bad, n_ev_bad, 0)
            gates.append(quality.quarantine_rate("bronze.web_events", n_ev, n_ev_bad, spec))
            writes.append((BRONZE_EVENTS, bronze.bronze_events(parsed, meta), "append"))
            quarantined.append(bronze.quarantine_events(parsed, meta, BRONZE_EVENTS))
            say("silver: web events dedupe")
            existing_ev = io.read(SILVER_EVENTS) if io.exists(SILVER_EVENTS) else None
            fresh = silver.new_events_only(silver.clean_events(parsed, spec, meta), existing_ev).persist()
            cleanup.callback(fresh.unpersist)
            new_events = fresh.count()
            report.counts[SILVER_EVENTS] = LayerCounts(n_ev - n_ev_bad, new_events, 0, n_ev - n_ev_bad - new_events)
            writes.append((SILVER_EVENTS, fresh, "append"))
        if quarantined:
            q_all = quarantined[0]
            for q in quarantined[1:]:
                q_all = q_all.unionByName(q)
            writes.insert(1, (QUARANTINE, q_all, "append"))
        changed = (upsert is not None and (upsert.new_kept or not io.exists(SILVER_LEADS))) or new_events > 0
        have_leads = upsert is not None or io.exists(SILVER_LEADS)
        if have_leads and (changed or (n_leads and not io.exists(GOLD_FEATURES))):
            say("gold: point-in-time event aggregates")
            leads_df = silver_leads if upsert is not None else io.read(SILVER_LEADS)
            events_df = _all_events(io, fresh if new_events else None)
            gold_df = gold.build_gold(leads_df, events_df, spec).persist()
            cleanup.callback(gold_df.unpersist)
            gold_rows = gold_df.count()
            silver_rows = leads_df.count()
            report.counts[GOLD_FEATURES] = LayerCounts(silver_rows, gold_rows, 0, 0)
            gates += quality.table_gates(gold_df, spec, "gold", spec.feature_names)
            gates += quality.gold_gates(gold_df, spec, gold_rows)
            writes.append((GOLD_FEATURES, gold_df, "overwrite"))
            truth = _truth(spark, io, batch)
            if truth is not None:
                writes.append((GOLD_TRUTH, gold.gold_ground_truth(truth, gold_df), "overwrite"))
        report.gates = [g.to_json() for g in gates]
        failed = next((g for g in gates if not g.ok), None)
        if failed is not None:
            _fail_run(io, report, failed, writes, meta, spec, say)
            _finish(report, marks, t0)
            report.save(lake)
            raise quality.GateError(failed, report)
        for table, df, mode in writes:
            say(f"writing {table} ({mode})")
            v = io.write(df, table, mode, metadata=commit_metadata(spec, meta.batch_id, batch.source))
            report.written.append(table)
            report.versions[table] = v.version
    batch.commit()
    for table in TABLES:
        if table not in report.versions and (current := io.version(table)) is not None:
            report.versions[table] = current
    if not n_leads and not n_lines:
        report.notes.append("no new rows: nothing written")
    _finish(report, marks, t0)
    report.save(lake)
    return report


def _finish(report: RunReport, marks: list[tuple[str, float]], t0: float) -> None:
    ends = [t for _, t in marks[1:]] + [time.monotonic()]
    report.timings = {m: round(end - t, 2) for (m, t), end in zip(marks, ends, strict=True)}
    report.finished_at = datetime.now(UTC).isoformat()
    report.seconds = round(time.monotonic() - t0, 2)


def _fail_run(
    io: DeltaIO,
    report: RunReport,
    failed: quality.GateResult,
    writes: list[tuple[str, DataFrame, Mode]],
    meta: bronze.BatchMeta,
    spec: FeatureSpec,
    say: Step,
) -> None:
    """A gate failed: keep the batch's rejects and why (quarantine + top reasons), write nothing else."""
    report.status = "failed"
    report.failed_gate = failed.to_json()
    quarantine = next((df for table, df, _ in writes if table == QUARANTINE), None)
    if quarantine is not None:
        say(f"gate {failed.check} failed: writing {QUARANTINE} only")
        report.top_reasons = quality.top_reasons(quarantine)
        metadata = {**commit_metadata(spec, meta.batch_id, report.source), "status": "failed"}
        v = io.write(quarantine, QUARANTINE, "append", metadata=metadata)
        report.written.append(QUARANTINE)
        report.versions[QUARANTINE] = v.version
    report.notes.append(
        f"quality gate {failed.check} failed: {failed.detail}; only {QUARANTINE} was written, "
        "the source state did not move (a rerun ingests this batch again)"
    )


def _no_events(batch: RawBatch) -> bool:
    events = batch.events
    if events is None:
        return True
    return events.empty if isinstance(events, TextLines) else events.num_rows == 0


def is_empty(batch: RawBatch) -> bool:
    """True when the batch holds no rows at all (a rerun over unchanged input)."""
    return batch.leads.num_rows + batch.rejected.num_rows == 0 and _no_events(batch)


def empty_run(spec: FeatureSpec, batch: RawBatch, lake: ObjectStore) -> RunReport:
    """Report for a batch with no new rows, without starting Spark: zero counts, current versions.

    An incremental rerun over unchanged input is fine; an empty batch on a lake that has no gold table yet
    (an empty export, an empty CRM) fails ``gold.min_rows`` like an empty gold table would: empty data never
    passes a gate. The failed run record is stored and the source state does not move.

    Raises:
        quality.GateError: no rows and no gold table.
    """
    now = datetime.now(UTC)
    report = RunReport(
        batch_id=new_batch_id(now),
        spec=spec.name,
        source=batch.source,
        lake=str(lake.root),
        engine="none (nothing to do)",
        started_at=now.isoformat(),
        notes=[*batch.notes, "no new rows: nothing written"],
        time_order=spec.time_order.describe(),
    )
    report.counts[BRONZE_LEADS] = LayerCounts()
    if spec.events is not None:
        report.counts[BRONZE_EVENTS] = LayerCounts()
    for table in TABLES:
        if lake.delta_exists(table):
            report.versions[table] = int(lake.delta(table).version())
    if GOLD_FEATURES not in report.versions:
        failed = quality.GateResult(
            "gold.min_rows", False, "0 rows in the batch and no gold table in the lake: an empty input never passes"
        )
        report.gates, report.status, report.failed_gate = [failed.to_json()], "failed", failed.to_json()
        report.finished_at = datetime.now(UTC).isoformat()
        report.save(lake)
        raise quality.GateError(failed, report)
    batch.commit()
    report.finished_at = datetime.now(UTC).isoformat()
    report.save(lake)
    return report


def _all_events(io: DeltaIO, fresh: DataFrame | None) -> DataFrame | None:
    existing = io.read(SILVER_EVENTS) if io.exists(SILVER_EVENTS) else None
    if existing is None:
        return fresh
    return existing if fresh is None else existing.unionByName(fresh)


def _truth(spark: SparkSession, io: DeltaIO, batch: RawBatch) -> DataFrame | None:
    if batch.ground_truth is not None and batch.ground_truth.num_rows:
        return spark.createDataFrame(batch.ground_truth.to_pandas())
    if io.exists(GOLD_TRUTH):
        return io.read(GOLD_TRUTH)
    return None
