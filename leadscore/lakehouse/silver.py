"""Silver: typed, normalised, deduplicated rows; the null policy of the spec already applied.

Leads are upserted by id keeping the latest ``updated_at`` (ties: the later ingest, then the later
line). Events are deduplicated by event key (``event_id`` or a content hash) against the batch and
against what silver already holds, then appended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from leadscore.lakehouse.bronze import BatchMeta
from leadscore.lakehouse.validate import feature_column
from leadscore_core.contract import FeatureSpec

LEAD_KEY_COLUMNS = ["lead_id", "event_ts", "event_order", "updated_ts", "label", "label_ts"]


def silver_lead_columns(spec: FeatureSpec) -> list[str]:
    """Column order of ``silver/leads``."""
    return [*LEAD_KEY_COLUMNS, *[f.name for f in spec.crm_features], "_source", "_batch_id", "_ingested_at", "_line"]


def clean_leads(validated: DataFrame, spec: FeatureSpec, meta: BatchMeta) -> DataFrame:
    """Valid rows of this batch in silver shape (clean values under feature names)."""
    return (
        validated.where(F.col("_reason").isNull())
        .select(
            F.col("_lead_id").alias("lead_id"),
            F.col("_event_ts").alias("event_ts"),
            F.col("_event_order").alias("event_order"),
            F.col("_updated_ts").alias("updated_ts"),
            F.col("_label").alias("label"),
            F.col("_label_ts").alias("label_ts"),
            *[F.col(feature_column(f)).alias(f.name) for f in spec.crm_features],
            *meta.columns(),
            F.col("_line"),
        )
        .select(*silver_lead_columns(spec))
    )


@dataclass
class UpsertResult:
    """Silver leads after a batch and what happened to the batch's rows."""

    table: DataFrame
    """The full new ``silver/leads`` content."""
    new_in: int
    new_kept: int
    """Batch rows that are now the latest version of their lead."""
    replaced: int
    """Existing silver rows superseded by this batch."""


def upsert_leads(existing: DataFrame | None, new: DataFrame, batch_id: str) -> UpsertResult:
    """Merge this batch into silver: one row per lead id, the latest ``updated_ts`` wins."""
    rows = new if existing is None else existing.unionByName(new)
    order = Window.partitionBy("lead_id").orderBy(
        F.col("updated_ts").desc(), F.col("_ingested_at").desc(), F.col("_line").desc()
    )
    ranked = rows.withColumn("_rn", F.row_number().over(order)).cache()
    try:
        stats = ranked.agg(
            F.sum(F.when(F.col("_batch_id") == batch_id, 1).otherwise(0)).alias("new_in"),
            F.sum(F.when((F.col("_batch_id") == batch_id) & (F.col("_rn") == 1), 1).otherwise(0)).alias("kept"),
            F.sum(F.when((F.col("_batch_id") != batch_id) & (F.col("_rn") > 1), 1).otherwise(0)).alias("replaced"),
        ).collect()[0]
    except Exception:
        ranked.unpersist()
        raise
    table = ranked.where(F.col("_rn") == 1).drop("_rn")
    return UpsertResult(
        table=table,
        new_in=int(stats["new_in"] or 0),
        new_kept=int(stats["kept"] or 0),
        replaced=int(stats["replaced"] or 0),
    )


def clean_events(parsed: DataFrame, spec: FeatureSpec, meta: BatchMeta) -> DataFrame:
    """Valid events of this batch in silver shape, deduplicated within the batch."""
    assert spec.events is not None
    value_fields = [
        c
        for c in parsed.columns
        if c not in ("_line", "raw", "_field", "_reason", "event_key", "lead_id", "ts", "event_type")
    ]
    return (
        parsed.where(F.col("_reason").isNull())
        .select("event_key", "lead_id", "ts", "event_type", *value_fields, *meta.columns())
        .dropDuplicates(["event_key"])
    )


def new_events_only(batch_events: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Events whose key silver does not hold yet."""
    if existing is None:
        return batch_events
    return batch_events.join(existing.select("event_key"), on="event_key", how="left_anti")
