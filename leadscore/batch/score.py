"""``leadscore batch score``: the champion scores the gold leads with PySpark.

Spark reads the Parquet files of the latest ``gold/lead_features`` version as resolved by delta-rs (the
delta-spark jars are not available, so Spark never reads the Delta log itself) and scores them with
``mapInPandas``: each Python worker loads the champion's artifact once with the core
:class:`~leadscore_core.artifact.LeadScorer` and scores its batches with reasons (the core's
``LeadScorer.reasons``, the same reason codes the online path returns). The result is collected as Arrow
and written by delta-rs to ``gold/lead_scores`` (overwrite: one row per lead, the latest scoring) and
upserted into the CRM table ``lead_scores`` (primary key ``lead_id``). A re-run replaces the same rows.

The lake is a local path or ``s3://bucket/prefix``: with S3, Spark (no hadoop-aws here) reads local copies of
the snapshot's files and delta-rs writes the scores to S3 (:mod:`leadscore.objectstore`).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore.objectstore import ObjectStore
from leadscore_core import lake as lake_tables
from leadscore_core.storage import StorageUri

GOLD_TABLE = lake_tables.GOLD_FEATURES
SCORES_TABLE = lake_tables.GOLD_SCORES
CRM_TABLE = "lead_scores"
SCHEMA = (
    "lead_id string, score long, probability double, tier string, reasons string, "
    "model_version string, gold_version long, scored_at timestamp"
)
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


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def scorer_fn(
    artifact: str, model_version: str, gold_version: int, scored_at: datetime, reasons: bool = True
) -> Callable[..., Any]:
    """The ``mapInPandas`` body: loads the artifact once per worker, scores each batch (with reasons)."""

    def score_batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from leadscore_core.artifact import LeadScorer
        from training.features import encode_frame, feature_columns

        scorer = LeadScorer(artifact).load()
        assert scorer.encoder is not None
        for frame in frames:
            batch = scorer.score(encode_frame(scorer.encoder, frame), explain=reasons)
            codes = ["[]"] * len(frame)
            if reasons:
                cols = feature_columns(frame, scorer.spec)
                codes = [
                    json.dumps(scorer.reasons(batch, i, {k: _plain(v[i]) for k, v in cols.items()}))
                    for i in range(len(frame))
                ]
            yield pd.DataFrame(
                {
                    "lead_id": frame["lead_id"].astype(str).to_numpy(),
                    "score": batch.score,
                    "probability": batch.probability.astype("float64"),
                    "tier": batch.tier,
                    "reasons": codes,
                    "model_version": model_version,
                    "gold_version": gold_version,
                    "scored_at": pd.Timestamp(scored_at).tz_convert(None),
                }
            )

    return score_batches


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
    files = list(table.file_uris())
    return (lake.fetch_files(files, local) if local is not None else files), int(table.version())


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


def score_to_delta(
    lake: ObjectStore | StorageUri | Path | str, artifact: Path, version: str, spark: Any, reasons: bool = True
) -> tuple[Any, int, int]:
    """Spark scores the latest gold; delta-rs overwrites ``gold/lead_scores``. (Arrow table, gold v, scores v)."""
    store = lake if isinstance(lake, ObjectStore) else ObjectStore(lake)
    scratch = None if store.is_local else Path(tempfile.mkdtemp(prefix="leadscore-batch-"))
    try:
        files, gold_version = gold_files(store, scratch)
        scored_at = datetime.now(UTC).replace(microsecond=0)
        leads = spark.read.parquet(*files).dropDuplicates(["lead_id"])
        scored = leads.mapInPandas(scorer_fn(str(artifact), version, gold_version, scored_at, reasons), SCHEMA)
        table = scored.orderBy("lead_id").toArrow()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    delta_version = store.write_delta(SCORES_TABLE, table, mode="overwrite", schema_mode="overwrite")
    return table, gold_version, delta_version


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
    table, gold_version, delta_version = score_to_delta(store, artifact, version, spark)
    crm_rows = upsert_crm(dsn, table)
    return BatchReport(
        rows=table.num_rows,
        model_version=version,
        gold_version=gold_version,
        delta_table=str(store.uri(SCORES_TABLE)),
        delta_version=delta_version,
        crm_rows=crm_rows,
        seconds=round(time.monotonic() - started, 1),
    )
