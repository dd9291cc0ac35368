"""Bronze: raw rows + ``_source``, ``_ingested_at``, ``_batch_id``; rejects go to quarantine with a reason.

Lead rows are validated with the shared contract rules (:mod:`leadscore.lakehouse.validate`); web
events are parsed and checked with Spark expressions driven by the spec's ``events`` section. Nothing
is dropped: every input row ends up either in a bronze table or in ``bronze/quarantine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from leadscore.lakehouse.sources import RawBatch, TextLines, safe_name
from leadscore.lakehouse.validate import validated_schema, validator
from leadscore_core.contract import FeatureSpec

QUARANTINE_COLUMNS = ["_source", "_batch_id", "_ingested_at", "table", "raw", "field", "reason"]


class SchemaError(ValueError):
    """The source lacks columns the contract needs (a bronze schema gate breach)."""


@dataclass(frozen=True)
class BatchMeta:
    """Lineage columns stamped on every bronze row."""

    source: str
    batch_id: str
    ingested_at: datetime

    def columns(self) -> list[Column]:
        """``_source``, ``_ingested_at``, ``_batch_id`` as literal columns."""
        return [
            F.lit(self.source).alias("_source"),
            F.lit(self.ingested_at).cast(T.TimestampType()).alias("_ingested_at"),
            F.lit(self.batch_id).alias("_batch_id"),
        ]


def required_columns(spec: FeatureSpec) -> list[str]:
    """Source columns a lead file must have (id, timestamp, target and every CRM feature)."""
    order = spec.time_order
    ordered = order.column if order.kind == "number" else None
    named = [spec.raw_column(n) for n in (spec.entity.id, spec.entity.timestamp, ordered) if n]
    cols = list(dict.fromkeys([*named, spec.target.column]))
    return cols + [f.source_column for f in spec.crm_features]


def check_source_schema(table: pa.Table, spec: FeatureSpec) -> None:
    """Raise :class:`SchemaError` naming the missing columns (skipped for an empty batch)."""
    if table.num_rows == 0:
        return
    missing = [c for c in required_columns(spec) if c not in table.column_names]
    if missing:
        raise SchemaError(f"bronze.schema: source lacks column(s) {', '.join(missing)} required by spec {spec.name!r}")


def _to_spark(spark: SparkSession, table: pa.Table) -> DataFrame:
    renamed = table.rename_columns([safe_name(c) for c in table.column_names])
    return spark.createDataFrame(renamed.to_pandas(types_mapper=None), schema=_spark_schema(renamed.schema))


def _spark_schema(schema: pa.Schema) -> T.StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def validate_leads(spark: SparkSession, batch: RawBatch, spec: FeatureSpec) -> DataFrame:
    """Raw lead rows with validation results and clean values (see :mod:`leadscore.lakehouse.validate`)."""
    check_source_schema(batch.leads, spec)
    raw = _to_spark(spark, batch.leads)
    return raw.mapInPandas(validator(spec), validated_schema(raw.schema, spec))  # type: ignore[arg-type]  # pyspark stubs are narrower than the API


def raw_columns(validated: DataFrame) -> list[str]:
    """The raw (source) columns of a validated frame, ``_line`` included."""
    return [
        c
        for c in validated.columns
        if not c.startswith("f__")
        and c
        not in ("_field", "_reason", "_lead_id", "_event_ts", "_event_order", "_updated_ts", "_label", "_label_ts")
    ]


def bronze_leads(validated: DataFrame, meta: BatchMeta) -> DataFrame:
    """Valid raw rows with lineage: the ``bronze/<entity>`` append."""
    return validated.where(F.col("_reason").isNull()).select(*raw_columns(validated), *meta.columns())


def _quarantine(frame: DataFrame, raw: Column, meta: BatchMeta, table: str) -> DataFrame:
    """The rows of ``frame`` that carry a ``_reason``, as quarantine records with ``raw`` as the raw value."""
    return (
        frame.where(F.col("_reason").isNotNull())
        .select(
            *meta.columns(),
            F.lit(table).alias("table"),
            raw.alias("raw"),
            F.col("_field").alias("field"),
            F.col("_reason").alias("reason"),
        )
        .select(*QUARANTINE_COLUMNS)
    )


def quarantine_leads(validated: DataFrame, meta: BatchMeta, table: str) -> DataFrame:
    """Invalid raw rows as quarantine records (raw row as JSON, fields and reasons)."""
    raw = F.to_json(F.struct(*[F.col(c) for c in raw_columns(validated)]))
    return _quarantine(validated, raw, meta, table)


def quarantine_lines(spark: SparkSession, rejected: pa.Table, meta: BatchMeta, table: str) -> DataFrame:
    """Lines that never parsed into a row (wrong field count, unusable watermark) as quarantine records."""
    df = _to_spark(spark, rejected)
    raw = F.to_json(F.struct(F.col("_line"), F.col("raw")))
    return df.select(
        *meta.columns(),
        F.lit(table).alias("table"),
        raw.alias("raw"),
        F.lit("_line").alias("field"),
        F.concat(F.lit("line "), F.col("_line").cast("string"), F.lit(": "), F.col("reason")).alias("reason"),
    ).select(*QUARANTINE_COLUMNS)


EVENT_FIELDS = T.StructType(
    [T.StructField(n, T.StringType()) for n in ("event_id", "lead_id", "ts", "event_type", "duration_sec")]
)


def event_lines(spark: SparkSession, events: pa.Table | TextLines) -> tuple[DataFrame, int]:
    """Raw event lines as ``_line`` (int64), ``raw`` rows and how many there are (blank lines skipped).

    A :class:`TextLines` file is read by Spark's text source, so the lines never pass through the driver.
    Exact line numbers without a single-partition window: ``monotonically_increasing_id`` numbers the rows
    of each scan split in order, so a row's line is the count of lines in the splits before it (ordered by
    their byte offset, ``input_file_block_start``) plus its position in its split.
    """
    if isinstance(events, pa.Table):
        return _to_spark(spark, events), events.num_rows
    text = spark.read.text(events.path).select(
        F.col("value").alias("raw"),
        F.input_file_block_start().alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    blank = F.trim(F.col("raw")) == ""
    per_split = text.groupBy("_block").agg(
        F.count(F.lit(1)).alias("n"), F.min("_mid").alias("first"), F.sum(F.when(blank, 0).otherwise(1)).alias("k")
    )
    blocks = sorted(per_split.collect())
    offsets, before = [], 0
    for row in blocks:  # one row per scan split: a few per GB
        offsets.append((int(row["_block"]), int(row["first"]), before))
        before += int(row["n"])
    n_lines = sum(int(row["k"]) for row in blocks)
    schema = T.StructType(
        [
            T.StructField("_block", T.LongType()),
            T.StructField("first", T.LongType()),
            T.StructField("before", T.LongType()),
        ]
    )
    splits = F.broadcast(spark.createDataFrame(offsets, schema))
    lines = (
        text.join(splits, "_block")
        .where(~blank)
        .select((F.col("before") + F.col("_mid") - F.col("first") + 1).alias("_line"), "raw")
    )
    return lines, n_lines


def parse_events(spark: SparkSession, lines: DataFrame, spec: FeatureSpec) -> DataFrame:
    """Parse raw JSON lines; adds typed columns and ``_field``/``_reason`` (null when valid).

    Checks: valid JSON object, id present, known event type, parsable timestamp, numeric
    non-negative value fields used by the spec's event aggregates.
    """
    assert spec.events is not None
    ev = spec.events
    value_fields = sorted(
        {
            f.from_events.value_field
            for f in spec.event_features
            if f.from_events is not None and f.from_events.value_field
        }
    )
    names = ["event_id", ev.id_field, ev.timestamp_field, ev.type_field, *value_fields]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in dict.fromkeys(names)])
    df = lines
    obj = F.from_json(F.col("raw"), T.MapType(T.StringType(), T.StringType()))  # type: ignore[arg-type]  # pyspark stubs are narrower than the API
    parsed = df.withColumn("_obj", obj).withColumn("_j", F.from_json(F.col("raw"), schema))
    lead = F.trim(F.col(f"_j.{ev.id_field}"))
    ts = F.try_to_timestamp(F.col(f"_j.{ev.timestamp_field}"))
    etype = F.trim(F.col(f"_j.{ev.type_field}"))
    checks: list[tuple[Column, str, Column]] = [
        (F.col("_obj").isNull(), "_raw", F.lit("_raw: not a JSON object")),
        (lead.isNull() | (lead == ""), ev.id_field, F.lit(f"{ev.id_field}: is required")),
        (
            ts.isNull(),
            ev.timestamp_field,
            F.concat(
                F.lit(f"{ev.timestamp_field}: not a timestamp: "),
                F.coalesce(F.col(f"_j.{ev.timestamp_field}"), F.lit("null")),
            ),
        ),
    ]
    if ev.types:
        checks.append(
            (
                ~etype.isin(ev.types) | etype.isNull(),
                ev.type_field,
                F.concat(F.lit(f"{ev.type_field}: unknown event type "), F.coalesce(etype, F.lit("null"))),
            )
        )
    for vf in value_fields:
        v = F.col(f"_j.{vf}").try_cast("double")
        checks.append(
            (
                F.col(f"_j.{vf}").isNotNull() & (v.isNull() | (v < 0)),
                vf,
                F.concat(F.lit(f"{vf}: not a non-negative number: "), F.col(f"_j.{vf}")),
            )
        )
    field_expr: Column = F.lit(None).cast("string")
    reason_expr: Column = F.lit(None).cast("string")
    for cond, field, reason in reversed(checks):
        field_expr = F.when(cond, F.lit(field)).otherwise(field_expr)
        reason_expr = F.when(cond, reason).otherwise(reason_expr)
    key = F.coalesce(
        F.col("_j.event_id"),
        F.sha2(
            F.concat_ws("|", lead, F.col(f"_j.{ev.timestamp_field}"), etype, *[F.col(f"_j.{v}") for v in value_fields]),
            256,
        ),
    )
    out = parsed.select(
        "_line",
        "raw",
        field_expr.alias("_field"),
        reason_expr.alias("_reason"),
        key.alias("event_key"),
        lead.alias("lead_id"),
        ts.alias("ts"),
        etype.alias("event_type"),
        *[F.col(f"_j.{v}").try_cast("double").alias(v) for v in value_fields],
    )
    return out


def bronze_events(parsed: DataFrame, meta: BatchMeta) -> DataFrame:
    """Valid raw event lines with lineage: the ``bronze/web_events`` append."""
    return parsed.where(F.col("_reason").isNull()).select("_line", "raw", *meta.columns())


def quarantine_events(parsed: DataFrame, meta: BatchMeta, table: str) -> DataFrame:
    """Invalid event lines as quarantine records."""
    raw = F.to_json(F.struct(F.col("_line"), F.col("raw")))
    return _quarantine(parsed, raw, meta, table)
