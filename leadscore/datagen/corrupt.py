"""Realistic dirt for the synthetic CRM export and event stream.

Missing values, categories outside the vocabulary, stale duplicate versions of a lead, malformed CSV
rows (wrong field count, unparsable values, missing ids) and malformed JSON event lines. Every kind
is counted so the manifest says what the pipeline must find. Columns are Arrow string arrays; the
edits are vectorised masks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Columns = dict[str, pa.Array]

MISSING_RATES = {
    "campaign": 0.06,
    "nationality": 0.02,
    "company_size": 0.05,
    "budget_band": 0.08,
    "visas_requested": 0.02,
    "has_existing_company": 0.04,
    "pages_per_visit": 0.03,
    "email_opens": 0.02,
}
UNKNOWN_VALUES = {"lead_source": "tiktok", "company_size": "10-20", "license_type": "offshore"}
MALFORMED_KINDS = (
    "too_few_fields",
    "too_many_fields",
    "bad_number",
    "out_of_range",
    "missing_id",
    "bad_timestamp",
    "bad_boolean",
)
VALUE_EDITS = {  # kind -> (column, bad value); None column = the id / timestamp column
    "bad_number": ("visas_requested", "three"),
    "out_of_range": ("visas_requested", "-2"),
    "bad_boolean": ("has_existing_company", "maybe"),
}
BAD_EVENT_KINDS = ("bad_json", "missing_lead_id", "unknown_event_type", "bad_ts", "negative_duration")


def set_where(arr: pa.Array, mask: np.ndarray, value: str | int | None) -> pa.Array:
    """``arr`` with ``value`` where ``mask`` is true."""
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(value, type=arr.type), arr)


def positions_mask(n: int, rows: np.ndarray) -> np.ndarray:
    """Boolean mask of length ``n`` that is true at ``rows``."""
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def blank_missing(cols: Columns, rng: np.random.Generator) -> dict[str, int]:
    """Blank out values per :data:`MISSING_RATES` in place; returns counts per column."""
    counts: dict[str, int] = {}
    for col, rate in MISSING_RATES.items():
        if col in cols:
            mask = rng.random(len(cols[col])) < rate
            cols[col] = set_where(cols[col], mask, "")
            counts[col] = int(mask.sum())
    return counts


def inject_unknown(cols: Columns, rows: np.ndarray) -> dict[str, int]:
    """Put out-of-vocabulary categories in ``rows`` (cycled over :data:`UNKNOWN_VALUES`)."""
    counts: dict[str, int] = {}
    names = [c for c in UNKNOWN_VALUES if c in cols]
    for i, col in enumerate(names):
        sel = rows[i :: len(names)]
        cols[col] = set_where(cols[col], positions_mask(len(cols[col]), sel), UNKNOWN_VALUES[col])
        counts[col] = int(len(sel))
    return counts


def corrupt_values(cols: Columns, rows: np.ndarray, timestamp_col: str, id_col: str) -> np.ndarray:
    """Assign a malformation kind to each of ``rows`` and apply the value-level ones in place.

    Returns:
        Kind per row (object array, ``""`` for clean rows); the field-count kinds are applied to the
        CSV text later by :func:`corrupt_lines`.
    """
    n = len(cols[id_col])
    kinds = np.full(n, "", dtype=object)
    kinds[rows] = np.array(MALFORMED_KINDS, dtype=object)[np.arange(len(rows)) % len(MALFORMED_KINDS)]
    edits = {**VALUE_EDITS, "missing_id": (id_col, ""), "bad_timestamp": (timestamp_col, "31/02/2026 25:61")}
    for kind, (col, bad) in edits.items():
        if col in cols:
            cols[col] = set_where(cols[col], kinds == kind, bad)
    return kinds


def corrupt_lines(lines: pa.Array, kinds: np.ndarray) -> pa.Array:
    """Apply the field-count malformations to CSV text lines (one per row, aligned with ``kinds``)."""
    mask = np.isin(kinds, ["too_few_fields", "too_many_fields"])
    if not mask.any():
        return lines
    picked = lines.filter(pa.array(mask)).to_pylist()
    fixed = []
    for text, kind in zip(picked, kinds[mask], strict=True):
        parts = text.split(",")
        fixed.append(",".join(parts[: max(3, len(parts) // 2)]) if kind == "too_few_fields" else text + ",EXTRA,junk")
    return pc.replace_with_mask(lines, pa.array(mask), pa.array(fixed, type=lines.type))


def event_corruption(n: int, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Kind per event line (object array, ``""`` for clean lines) for ``rate`` of ``n`` lines."""
    kinds = np.full(n, "", dtype=object)
    n_bad = int(round(n * rate))
    if n_bad:
        rows = rng.choice(n, size=n_bad, replace=False)
        kinds[rows] = np.array(BAD_EVENT_KINDS, dtype=object)[np.arange(n_bad) % len(BAD_EVENT_KINDS)]
    return kinds
