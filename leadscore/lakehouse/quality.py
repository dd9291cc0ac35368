"""Quality gates per layer: schema, ranges, uniqueness, null rates, freshness, volume.

Thresholds come from the spec's ``quality`` section. Each table is checked with one aggregate pass;
every check yields a :class:`GateResult`, and :func:`enforce` raises :class:`GateError` naming the
first failed check (e.g. ``silver.null_rate[budget_band]``), which fails the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from leadscore.lakehouse.gold import gold_columns
from leadscore_core.contract import FeatureSpec


@dataclass(frozen=True)
class GateResult:
    """One expectation and whether it held."""

    check: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


class GateError(RuntimeError):
    """A quality gate failed; the message names the check."""

    def __init__(self, result: GateResult) -> None:
        super().__init__(f"quality gate {result.check} failed: {result.detail}")
        self.result = result


def enforce(results: list[GateResult]) -> None:
    """Raise :class:`GateError` for the first failed result."""
    for r in results:
        if not r.ok:
            raise GateError(r)


def quarantine_rate(layer: str, total: int, quarantined: int, spec: FeatureSpec) -> GateResult:
    """Share of a batch quarantined by bronze must stay under ``quality.max_quarantine_rate``."""
    limit = spec.quality.max_quarantine_rate
    rate = quarantined / total if total else 0.0
    return GateResult(
        f"{layer}.quarantine_rate",
        rate <= limit,
        f"{quarantined}/{total} rows quarantined ({rate:.2%}, limit {limit:.0%})",
    )


def _range_checks(df: DataFrame, spec: FeatureSpec, names: list[str], layer: str, row: Any) -> list[GateResult]:
    out = []
    for name in names:
        f = spec.feature(name)
        lo, hi = row[f"min__{name}"], row[f"max__{name}"]
        ok = not (
            (f.min is not None and lo is not None and lo < f.min)
            or (f.max is not None and hi is not None and hi > f.max)
        )
        out.append(GateResult(f"{layer}.range[{name}]", ok, f"observed [{lo}, {hi}], allowed [{f.min}, {f.max}]"))
    return out


def table_gates(
    df: DataFrame, spec: FeatureSpec, layer: str, features: list[str], now: datetime | None = None
) -> list[GateResult]:
    """Uniqueness of ``lead_id``, null rate and range per feature, freshness of ``event_ts``, row count.

    Args:
        df: ``silver/leads`` or ``gold/lead_features`` content.
        spec: thresholds and feature ranges.
        layer: ``silver`` or ``gold`` (check names are prefixed with it).
        features: the feature columns present in ``df``.
        now: reference time for freshness (default: now, UTC).
    """
    numeric = [n for n in features if spec.feature(n).type == "numeric"]
    aggs = [
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("lead_id").alias("ids"),
        F.sum(F.col("lead_id").isNull().cast("int")).alias("null_ids"),
        F.max("event_ts").alias("newest"),
    ]
    aggs += [F.sum(F.col(n).isNull().cast("int")).alias(f"null__{n}") for n in features]
    aggs += [F.min(n).alias(f"min__{n}") for n in numeric] + [F.max(n).alias(f"max__{n}") for n in numeric]
    row = df.agg(*aggs).collect()[0]
    rows = int(row["rows"])
    results = [
        GateResult(
            f"{layer}.unique[lead_id]",
            row["ids"] == rows and not row["null_ids"],
            f"{rows} rows, {row['ids']} distinct ids, {row['null_ids'] or 0} null ids",
        )
    ]
    for n in features:
        rate = (row[f"null__{n}"] or 0) / rows if rows else 0.0
        results.append(
            GateResult(
                f"{layer}.null_rate[{n}]",
                rate <= spec.quality.max_null_rate,
                f"{rate:.2%} null (limit {spec.quality.max_null_rate:.0%})",
            )
        )
    results += _range_checks(df, spec, numeric, layer, row)
    if spec.quality.max_staleness_days is not None and rows:
        now = now or datetime.now(UTC)
        newest = row["newest"]
        newest = newest.replace(tzinfo=UTC) if newest is not None and newest.tzinfo is None else newest
        ok = newest is not None and now - newest <= timedelta(days=spec.quality.max_staleness_days)
        results.append(
            GateResult(
                f"{layer}.freshness", ok, f"newest event_ts {newest}, limit {spec.quality.max_staleness_days} days"
            )
        )
    return results


def gold_gates(df: DataFrame, spec: FeatureSpec, rows: int) -> list[GateResult]:
    """Gold schema (column names and types), label domain and minimum volume."""
    expected = gold_columns(spec)
    results = [
        GateResult(
            "gold.schema",
            df.columns == expected,
            "columns match the contract" if df.columns == expected else f"columns {df.columns} != {expected}",
        )
    ]
    types = {f.name: f.dataType for f in df.schema.fields}
    bad = [n for n in spec.feature_names if spec.feature(n).type == "numeric" and types.get(n) != T.DoubleType()]
    results.append(GateResult("gold.schema[types]", not bad, f"non-double numeric features: {bad}" if bad else "ok"))
    labels = {r[0] for r in df.select("label").distinct().collect()}
    results.append(GateResult("gold.label", labels <= {0, 1}, f"label values {sorted(labels, key=str)}"))
    results.append(
        GateResult("gold.min_rows", rows >= spec.quality.min_rows, f"{rows} rows (minimum {spec.quality.min_rows})")
    )
    return results
