"""Gold: model features per lead, point-in-time correct, target attached.

Event aggregates follow each feature's ``from_events`` in the spec and use only events strictly
before the cut-off ``min(event_ts + feature_window_days, label_ts)``: nothing at or after conversion
(e.g. ``payment_portal`` visits) and nothing after the feature window leaks into a feature.
Columns follow docs/architecture.md: ``lead_id, event_ts, event_order, label, label_ts, <features>, _batch_id``
(``event_order``: what the spec's time order sorts by; ``event_ts`` is null when the spec has no timestamp).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from leadscore_core.contract import FeatureDef, FeatureSpec

SECONDS_PER_DAY = 86_400.0


def gold_columns(spec: FeatureSpec) -> list[str]:
    """Column order of ``gold/lead_features``."""
    return ["lead_id", "event_ts", "event_order", "label", "label_ts", *spec.feature_names, "_batch_id"]


def cutoff(spec: FeatureSpec) -> Column:
    """The point-in-time cut-off per lead."""
    window_s = int(spec.point_in_time.feature_window_days * SECONDS_PER_DAY)
    end = F.col("event_ts") + F.make_dt_interval(secs=F.lit(window_s))
    return F.when(F.col("label_ts").isNotNull() & (F.col("label_ts") < end), F.col("label_ts")).otherwise(end)


def _aggregate(f: FeatureDef) -> tuple[Column, bool]:
    """Aggregation expression for one event feature and whether a lead without events gets 0."""
    agg = f.from_events
    assert agg is not None
    match = F.col("event_type").isin(agg.event_types) if agg.event_types else F.lit(True)
    value = F.col(agg.value_field) if agg.value_field else F.lit(1.0)
    if agg.agg == "count":
        return F.sum(F.when(match, 1.0).otherwise(0.0)), True
    if agg.agg == "sum":
        return F.sum(F.when(match, value).otherwise(0.0)), True
    if agg.agg == "mean":
        return F.avg(F.when(match, value)), False
    if agg.agg == "max":
        return F.max(F.when(match, value)), False
    if agg.agg == "distinct_days":
        return F.countDistinct(F.when(match, F.to_date("ts"))).cast("double"), True
    # days_since_last: from the last matching event to the cut-off
    last = F.max(F.when(match, F.col("ts")))
    return ((F.max("_cutoff").cast("double") - last.cast("double")) / SECONDS_PER_DAY), False


def build_gold(leads: DataFrame, events: DataFrame | None, spec: FeatureSpec) -> DataFrame:
    """Gold rows from ``silver/leads`` and ``silver/web_events``."""
    base = leads.select(
        "lead_id", "event_ts", "event_order", "label", "label_ts", *[f.name for f in spec.crm_features], "_batch_id"
    )
    feats = spec.event_features
    if feats and events is not None:
        window = base.select("lead_id", "event_ts", "label_ts").withColumn("_cutoff", cutoff(spec))
        pit = events.join(window.select("lead_id", "_cutoff"), on="lead_id", how="inner").where(
            F.col("ts") < F.col("_cutoff")
        )
        aggs = [(f, *_aggregate(f)) for f in feats]
        per_lead = pit.groupBy("lead_id").agg(*[expr.alias(f.name) for f, expr, _ in aggs])
        base = base.join(per_lead, on="lead_id", how="left")
        for f, _, zero in aggs:
            if zero:
                base = base.withColumn(f.name, F.coalesce(F.col(f.name), F.lit(0.0)))
    elif feats:
        for f in feats:
            base = base.withColumn(f.name, F.lit(None).cast("double"))
    return base.select(*gold_columns(spec))


def gold_ground_truth(truth: DataFrame, gold: DataFrame) -> DataFrame:
    """``lead_id, true_probability`` for the leads in gold (one row per lead)."""
    return (
        truth.dropDuplicates(["lead_id"])
        .join(gold.select("lead_id"), on="lead_id", how="left_semi")
        .select("lead_id", F.col("true_probability").cast("double"))
    )
