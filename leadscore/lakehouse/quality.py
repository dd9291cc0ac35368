"""Quality gates per layer: schema, ranges, uniqueness, null rates, freshness, volume.

Thresholds come from the spec's ``quality`` section. Each table is checked with one aggregate pass;
every check yields a :class:`GateResult`, and :func:`enforce` raises :class:`GateError` naming the
first failed check (e.g. ``silver.null_rate[budget_band]``), which fails the run. A failed run still writes
its quarantine and run record; :func:`top_reasons` says why rows were quarantined. Gates on empty data fail:
a null rate of 0 rows, or a volume minimum on an empty table, proves nothing.
"""

from __future__ import annotations

import re
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
    """A quality gate failed; the message names the check and the most common quarantine reasons."""

    def __init__(self, result: GateResult, report: Any = None) -> None:
        reasons = getattr(report, "top_reasons", None) or []
        why = (
            "; top reasons: " + "; ".join(f"{r['reason']} ({r['count']} rows)" for r in reasons[:3]) if reasons else ""
        )
        super().__init__(f"quality gate {result.check} failed: {result.detail}{why}")
        self.result = result
        self.report = report
        """The run report (``leadscore.lakehouse.counts.RunReport``) saved for the failed run, when there is one."""


VALUE_PATTERNS = (
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<value>"),
    (re.compile(r"^([^:]+: )-?[0-9][0-9.e+-]* is (above|below)"), r"\1<value> is \2"),
    (re.compile(r"^line [0-9]+: "), ""),
)


def reason_kind(issue: str) -> str:
    """An issue without its value (``created_at: not a timestamp: '05/01'`` -> ``...: <value>``), to count by."""
    for pattern, repl in VALUE_PATTERNS:
        issue = pattern.sub(repl, issue)
    return issue


def top_reasons(quarantine: DataFrame, k: int = 5, examples: int = 3) -> list[dict[str, Any]]:
    """The ``k`` most common quarantine reasons: ``{reason, field, count, examples}`` (raw rows as JSON)."""
    from pyspark.sql.types import StringType

    kind = F.udf(reason_kind, StringType())
    issues = quarantine.select("raw", F.explode(F.split("reason", "; ")).alias("issue"))
    rows = (
        issues.withColumn("kind", kind("issue"))
        .groupBy("kind")
        .agg(F.count(F.lit(1)).alias("n"), F.slice(F.collect_list("raw"), 1, examples).alias("examples"))
        .orderBy(F.desc("n"), "kind")
        .limit(k)
        .collect()
    )
    return [
        {
            "reason": r["kind"],
            "field": r["kind"].split(":", 1)[0],
            "count": int(r["n"]),
            "examples": list(r["examples"]),
        }
        for r in rows
    ]


def enforce(results: list[GateResult]) -> None:
    """Raise :class:`GateError` for the first failed result."""
    for r in results:
        if not r.ok:
            raise GateError(r)


def quarantine_rate(layer: str, total: int, quarantined: int, spec: FeatureSpec) -> GateResult:
    """Share of a batch quarantined by bronze must stay under ``quality.max_quarantine_rate``."""
    limit = spec.quality.max_quarantine_rate
    if not total:
        return GateResult(f"{layer}.quarantine_rate", False, "0 rows in the batch: nothing to check")
    rate = quarantined / total
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
        if not rows:
            results.append(
                GateResult(f"{layer}.null_rate[{n}]", False, "0 rows: a null rate of nothing proves nothing")
            )
            continue
        rate = (row[f"null__{n}"] or 0) / rows
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
    minimum = max(spec.quality.min_rows, 1)  # an empty gold table never passes, whatever min_rows says
    results.append(
        GateResult(
            "gold.min_rows",
            rows >= minimum,
            f"{rows} rows (minimum {minimum}{'; an empty table always fails' if not rows else ''})",
        )
    )
    return results
