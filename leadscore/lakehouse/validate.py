"""Row validation of raw lead rows with the shared contract rules (``leadscore_core.validation``).

Runs inside Spark's ``mapInPandas`` so bronze rejects exactly what the serving API rejects. For each
raw row it returns the row plus ``_field``/``_reason`` (null when valid) and the clean, typed values
silver needs (``_lead_id``, ``_event_ts``, ``_event_order``, ``_updated_ts``, ``_label``, ``_label_ts`` and
one ``f__<feature>`` column per CRM feature), so the Python pass happens once per row.

``_event_order`` is the raw value of what the spec says defines "latest" (``FeatureSpec.time_order``):
epoch seconds of the timestamp, the ``order_by`` number, or the input row number (``row_order``, and also
when no order is stated: training then refuses). ``_event_ts`` is null unless the spec has a timestamp:
no event time is ever made up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from leadscore.lakehouse.sources import safe_name
from leadscore_core.contract import ROW_ORDER, FeatureDef, FeatureSpec, spec_from_json
from leadscore_core.validation import CheckedRecord, check_feature, check_id, parse_number

SPARK_TYPES: dict[str, T.DataType] = {
    "numeric": T.DoubleType(),
    "categorical": T.StringType(),
    "boolean": T.BooleanType(),
    "text": T.StringType(),
}


def feature_column(f: FeatureDef) -> str:
    """Name of the clean value column of a feature in the validated frame."""
    return f"f__{f.name}"


def validated_schema(raw: T.StructType, spec: FeatureSpec) -> T.StructType:
    """Schema of :func:`validator`'s output for raw input schema ``raw``."""
    extra = [
        T.StructField("_field", T.StringType()),
        T.StructField("_reason", T.StringType()),
        T.StructField("_lead_id", T.StringType()),
        T.StructField("_event_ts", T.TimestampType()),
        T.StructField("_event_order", T.DoubleType()),
        T.StructField("_updated_ts", T.TimestampType()),
        T.StructField("_label", T.IntegerType()),
        T.StructField("_label_ts", T.TimestampType()),
    ]
    feats = [T.StructField(feature_column(f), SPARK_TYPES[f.type]) for f in spec.crm_features]
    return T.StructType(list(raw.fields) + extra + feats)


@lru_cache(maxsize=4)
def _spec(blob: str) -> FeatureSpec:
    return spec_from_json(blob)


def _parse_ts(values: pd.Series, fmt: str | None = None) -> pd.Series:
    text = values.fillna("").astype(str).str.strip()
    return pd.to_datetime(text.where(text != ""), utc=True, errors="coerce", format=fmt or "ISO8601")


def _text(pdf: pd.DataFrame, column: str | None) -> pd.Series | None:
    if column is None or safe_name(column) not in pdf.columns:
        return None
    return pdf[safe_name(column)]


def _optional_ts(
    pdf: pd.DataFrame, column: str | None, flag: Callable[[np.ndarray, str, Callable[[int], str]], None]
) -> tuple[pd.Series, pd.Series] | None:
    """Parse an optional timestamp column: (parsed, given); a given value that does not parse is flagged."""
    raw = _text(pdf, column)
    if raw is None or column is None:
        return None
    parsed = _parse_ts(raw)
    given = raw.fillna("").astype(str).str.strip() != ""
    flag((given & parsed.isna()).to_numpy(), column, lambda i: f"not a timestamp: {str(raw.iloc[i])[:40]!r}")
    return parsed, given


def check_column(f: FeatureDef, raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The contract rule of one feature over a column of raw values: clean values and reasons (None = ok).

    Runs :func:`leadscore_core.validation.check_feature` (the rule serving uses) once per *distinct*
    raw value and broadcasts the result, so the outcome is that function's by construction while a
    million-row column of a few hundred distinct values costs a hash pass, not a million Python calls.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)  # nulls get code -1
    distinct = [*uniques.tolist(), None]  # the last slot is the null value
    clean = np.empty(len(distinct), dtype=object)
    reasons = np.empty(len(distinct), dtype=object)
    for k, value in enumerate(distinct):
        rec = CheckedRecord(values={})
        check_feature(f, value, rec)
        clean[k] = rec.values.get(f.name)
        reasons[k] = "; ".join(i.reason for i in rec.issues) or None
    index = np.where(codes < 0, len(distinct) - 1, codes)
    return clean[index], reasons[index]


Flag = Callable[[np.ndarray, str, Callable[[int], str]], None]


def _lead_ids(pdf: pd.DataFrame, spec: FeatureSpec, line: np.ndarray, flag: Flag) -> pd.Series:
    """Lead ids by the shared id rule (:func:`leadscore_core.validation.check_id`), or ``row-<n>`` without one."""
    ids = _text(pdf, spec.raw_column(spec.entity.id)) if spec.entity.id else None
    if ids is None:
        return pd.Series([f"row-{int(x) - 1:07d}" for x in line], index=pdf.index)
    checked = [check_id(v) for v in ids.tolist()]
    reasons = [r for _, r in checked]
    flag(np.array([r is not None for r in reasons], dtype=bool), spec.id_column, lambda i: str(reasons[i]))
    return pd.Series([v or "" for v, _ in checked], index=pdf.index, dtype=object)


def _event_time(pdf: pd.DataFrame, spec: FeatureSpec, line: np.ndarray, flag: Flag) -> tuple[pd.Series, pd.Series]:
    """(``_event_ts``, ``_event_order``) of each row; a row whose time/order value is unusable is flagged."""
    order = spec.time_order
    event_ts = pd.Series(pd.NaT, index=pdf.index, dtype="datetime64[ns, UTC]")
    ts_raw = _text(pdf, spec.raw_column(spec.entity.timestamp)) if spec.entity.timestamp else None
    if ts_raw is not None:
        fmt = spec.entity.timestamp_format
        event_ts = _parse_ts(ts_raw, fmt)
        what = f"not a timestamp ({fmt})" if fmt else "not a timestamp (ISO 8601 date or date-time)"
        flag(
            event_ts.isna().to_numpy(),
            spec.timestamp_column,
            lambda i: f"{what}: {str(ts_raw.iloc[i])[:40]!r}" if ts_raw.iloc[i] else "is required",
        )
    if order.kind == "timestamp":
        return event_ts, (event_ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("float64")
    if order.kind == "number":
        assert order.column is not None
        raw = _text(pdf, spec.raw_column(order.column))
        values = raw.tolist() if raw is not None else [None] * len(pdf)
        parsed = [parse_number(v) if v not in (None, "") else (None, "is required (entity.order_by)") for v in values]
        flag(np.array([v is None for v, _ in parsed], dtype=bool), order.column, lambda i: f"order_by: {parsed[i][1]}")
        return event_ts, pd.Series([np.nan if v is None else v for v, _ in parsed], index=pdf.index, dtype="float64")
    assert order.kind in (ROW_ORDER, "unstated")
    return event_ts, pd.Series(line.astype("float64"), index=pdf.index)


def validate_chunk(pdf: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Validate one pandas chunk of raw rows (text columns named by :func:`safe_name`, plus ``_line``)."""
    n = len(pdf)
    issues: list[list[str]] = [[] for _ in range(n)]
    fields: list[list[str]] = [[] for _ in range(n)]

    def flag(mask: np.ndarray, field: str, reason: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            fields[i].append(field)
            issues[i].append(f"{field}: {reason(int(i))}")

    line = pdf["_line"].to_numpy()
    lead_id = _lead_ids(pdf, spec, line, flag)
    event_ts, event_order = _event_time(pdf, spec, line, flag)
    updated_ts = event_ts
    optional = _optional_ts(pdf, spec.raw_column(spec.entity.updated_at) if spec.entity.updated_at else None, flag)
    if optional is not None:
        parsed, given = optional
        updated_ts = parsed.where(given, event_ts)
    target = _text(pdf, spec.target.column)
    if target is None:
        label = pd.Series(np.zeros(n, dtype=np.int32), index=pdf.index)
    else:
        flag(
            (target.fillna("").astype(str).str.strip() == "").to_numpy(),
            spec.target.column,
            lambda i: (
                "is required"
                if spec.inputs is None or spec.inputs.labels is None
                else f"is required (no label for this id in {spec.inputs.labels.file})"
            ),
        )
        label = target.map(lambda v: int(spec.is_positive(v))).astype("int32")
    label_ts = pd.Series(pd.NaT, index=pdf.index, dtype="datetime64[ns, UTC]")
    optional = _optional_ts(pdf, spec.raw_column(spec.target.timestamp) if spec.target.timestamp else None, flag)
    if optional is not None:
        label_ts = optional[0]
    for fd in spec.fields:
        col = _text(pdf, fd.source_column)
        if fd.required and col is not None and fd.name not in (spec.entity.id, spec.entity.timestamp):
            flag((col.fillna("").astype(str).str.strip() == "").to_numpy(), fd.name, lambda i: "is required")

    feats = spec.crm_features
    values: list[np.ndarray] = []
    for f in feats:
        col = _text(pdf, f.source_column)
        clean, reasons = check_column(f, col if col is not None else pd.Series([None] * n, dtype=object))
        values.append(clean)
        for i in np.flatnonzero(reasons != None):  # noqa: E711 (element-wise)
            fields[i].append(f.name)
            issues[i].append(f"{f.name}: {reasons[i]}")

    out = pdf.copy()
    out["_field"] = [",".join(dict.fromkeys(f)) if f else None for f in fields]
    out["_reason"] = ["; ".join(r) if r else None for r in issues]
    out["_lead_id"] = lead_id.where(lead_id != "", None)
    out["_event_ts"] = event_ts
    out["_event_order"] = event_order
    out["_updated_ts"] = updated_ts
    out["_label"] = label
    out["_label_ts"] = label_ts.where(label == 1)
    for j, f in enumerate(feats):
        col = values[j]
        if f.type == "numeric":
            out[feature_column(f)] = pd.to_numeric(pd.Series(col, index=pdf.index), errors="raise").astype("float64")
        else:
            out[feature_column(f)] = pd.Series(col, index=pdf.index, dtype="object")
    return out


def validator(spec: FeatureSpec) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function (the spec travels as JSON, rebuilt once per worker)."""
    blob = spec.model_dump_json()

    def run(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        contract = _spec(blob)
        for pdf in chunks:
            yield validate_chunk(pdf, contract)

    return run
