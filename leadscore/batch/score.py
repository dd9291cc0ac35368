"""``leadscore batch score``: the champion scores the gold leads with PySpark.

The driver resolves the Parquet files of the latest ``gold/lead_features`` version with delta-rs (the
delta-spark jars are not available, so Spark never reads the Delta log), plans one unit of rows per Spark
task (:mod:`leadscore.batch.plan`) and runs the tasks (:mod:`leadscore.batch.spark_job`). Each task's
Python worker loads the champion once (:mod:`leadscore.batch.worker`), reads its rows, scores them with the
core :class:`~leadscore_core.artifact.LeadScorer`, reasons included (the same numbers and reason codes as the
online path; tests/batch check it on the same rows), and writes one Parquet file. The driver commits the
files to ``gold/lead_scores`` in one delta-rs transaction (overwrite: one row per lead, the latest scoring;
row order is not meaningful; a lead_id repeated in gold is scored once, as its row in the newest file) and
upserts them into the CRM table ``lead_scores`` (primary key ``lead_id``). A re-run replaces the same rows; a
failed run leaves the table as it was.

The lake is a local path or ``s3://bucket/prefix``: with S3, the workers read local copies of the snapshot's
files and write to a scratch folder, and the driver uploads the files beside the table's log before the
commit (:mod:`leadscore.objectstore`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from leadscore.batch.reason_json import plain as _plain  # noqa: F401 (tests/batch compare reasons with it)
from leadscore.batch.settings import BatchSettings
from leadscore.batch.spark_job import plan, score_units
from leadscore.batch.worker import OUTPUT_SCHEMA, ScoringRun
from leadscore.objectstore import ObjectStore
from leadscore_core import lake as lake_tables
from leadscore_core.storage import StorageUri

GOLD_TABLE = lake_tables.GOLD_FEATURES
SCORES_TABLE = lake_tables.GOLD_SCORES
CRM_TABLE = "lead_scores"
CRM_DDL = f"""
CREATE TABLE IF NOT EXISTS {CRM_TABLE} (
    lead_id text PRIMARY KEY,
    score integer NOT NULL,
    probability double precision NOT NULL,
    tier text NOT NULL,
    reasons jsonb NOT NULL,
    model_version text NOT NULL,
    gold_version bigint NOT NULL,
    scored_at timestamptz NOT NULL
)"""


class BatchError(Exception):
    """Batch scoring cannot run; the message says what to fix."""


@dataclass
class BatchReport:
    rows: int
    model_version: str
    gold_version: int
    delta_table: str
    delta_version: int
    crm_rows: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def champion_artifact() -> tuple[Path, str]:
    """(local artifact dir, version) of the registry's champion.

    Raises:
        BatchError: there is no champion (nothing is written then).
    """
    from leadscore.registry.registry import Registry

    registry = Registry()
    champion = registry.champion()
    if champion is None:
        raise BatchError(
            f"model {registry.name!r} has no champion in {registry.uri}: train and promote one "
            "(`leadscore train` bootstraps the first) before batch scoring; nothing was written"
        )
    return registry.fetch(str(champion.version)), str(champion.version)


def gold_files(lake: ObjectStore, local: Path | None = None) -> tuple[list[str], int]:
    """Parquet files of the latest gold version, as delta-rs resolves them, and that version; with ``local``,
    S3 objects are copied there first (what a Spark without an S3 filesystem can read).

    Raises:
        BatchError: there is no gold table (checked before the registry is asked).
        StorageUnreachable: the lake's S3 endpoint does not answer.
    """
    lake.check()
    if not lake.delta_exists(GOLD_TABLE):
        raise BatchError(
            f"gold table {lake.uri(GOLD_TABLE)} does not exist; run `leadscore pipeline run --lake {lake.root}` first"
        )
    table = lake.delta(GOLD_TABLE)
    files = newest_first(table)
    return (lake.fetch_files(files, local) if local is not None else files), int(table.version())


def newest_first(table: Any) -> list[str]:
    """The snapshot's file URIs, the most recently added first (add time, then name): the global row order
    of :mod:`leadscore.batch.plan`, so a lead_id repeated in gold is scored as its newest row."""
    adds = pa.table(table.get_add_actions(flatten=True))
    added = dict(zip(adds.column("path").to_pylist(), adds.column("modification_time").to_pylist(), strict=True))
    at = {unquote(p.rsplit("/", 1)[-1]): int(t) for p, t in added.items()}
    return sorted(table.file_uris(), key=lambda uri: (-at[unquote(uri.rsplit("/", 1)[-1])], uri))


def upsert_crm(dsn: str, table: Any) -> int:
    """Insert or update one ``lead_scores`` row per lead (``ON CONFLICT (lead_id)``); rows affected."""
    import psycopg

    columns = ["lead_id", "score", "probability", "tier", "reasons", "model_version", "gold_version", "scored_at"]
    frame = table.select(columns).to_pandas()
    with psycopg.connect(dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(CRM_DDL)
        cur.execute(f"CREATE TEMP TABLE stage (LIKE {CRM_TABLE}) ON COMMIT DROP")
        with cur.copy(f"COPY stage ({', '.join(columns)}) FROM STDIN") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(
                    (
                        row.lead_id,
                        int(row.score),
                        float(row.probability),
                        row.tier,
                        row.reasons,
                        row.model_version,
                        int(row.gold_version),
                        row.scored_at.to_pydatetime(),
                    )
                )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
        cur.execute(f"INSERT INTO {CRM_TABLE} SELECT * FROM stage ON CONFLICT (lead_id) DO UPDATE SET {updates}")
        return cur.rowcount


@dataclass(frozen=True)
class ScoredDelta:
    """What :func:`score_to_delta` wrote: rows scored, the gold version read, the ``gold/lead_scores`` version."""

    rows: int
    gold_version: int
    delta_version: int


def score_to_delta(
    lake: ObjectStore | StorageUri | Path | str,
    artifact: Path,
    version: str,
    spark: Any,
    reasons: bool = True,
    settings: BatchSettings | None = None,
) -> ScoredDelta:
    """Spark scores the latest gold; delta-rs overwrites ``gold/lead_scores`` with the workers' files."""
    store = lake if isinstance(lake, ObjectStore) else ObjectStore(lake)
    settings = settings or BatchSettings()
    scratch = None if store.is_local else Path(tempfile.mkdtemp(prefix="leadscore-batch-"))
    try:
        files, gold_version = gold_files(store, scratch / "gold" if scratch else None)
        run = ScoringRun(version, gold_version, datetime.now(UTC).replace(microsecond=0), reasons)
        out_dir = scratch / "scores" if scratch else store.uri(SCORES_TABLE).local_path
        written = score_units(spark, plan(spark, files, settings), artifact, run, out_dir, settings)
        parts = [(out_dir / w.name, w.rows) for w in written]
        delta_version = store.overwrite_with_files(SCORES_TABLE, parts, OUTPUT_SCHEMA)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return ScoredDelta(sum(w.rows for w in written), gold_version, delta_version)


def run(lake: StorageUri | Path | str, dsn: str, spark: Any = None) -> BatchReport:
    """Score every lead of the latest gold version with the champion; Delta + CRM; the report.

    Raises:
        BatchError: no gold table, or no champion (nothing written).
        StorageUnreachable: the lake's S3 endpoint does not answer (nothing written).
    """
    started = time.monotonic()
    store = ObjectStore(lake)
    gold_files(store)  # a missing gold table fails before the registry is asked
    artifact, version = champion_artifact()
    if spark is None:
        from leadscore.lakehouse.spark import get_spark

        spark = get_spark(app_name="leadscore-batch-scoring")
    scored = score_to_delta(store, artifact, version, spark)
    crm_rows = upsert_crm(dsn, store.delta(SCORES_TABLE, scored.delta_version).to_pyarrow_table())
    return BatchReport(
        rows=scored.rows,
        model_version=version,
        gold_version=scored.gold_version,
        delta_table=str(store.uri(SCORES_TABLE)),
        delta_version=scored.delta_version,
        crm_rows=crm_rows,
        seconds=round(time.monotonic() - started, 1),
    )
