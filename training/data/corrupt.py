"""Realistic dirt for the synthetic CRM export and event stream.

Missing values, categories outside the vocabulary, stale duplicate versions of a lead, malformed CSV
rows (wrong field count, unparsable values, missing ids) and malformed JSON event lines. Every kind
is counted so the manifest says what the pipeline must find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING_RATES = {
    "campaign": 0.06, "nationality": 0.02, "company_size": 0.05, "budget_band": 0.08,
    "visas_requested": 0.02, "has_existing_company": 0.04, "pages_per_visit": 0.03, "email_opens": 0.02,
}
UNKNOWN_VALUES = {"lead_source": "tiktok", "company_size": "10-20", "license_type": "offshore"}
MALFORMED_KINDS = ("too_few_fields", "too_many_fields", "bad_number", "out_of_range", "missing_id",
                   "bad_timestamp", "bad_boolean")
BAD_EVENT_KINDS = ("bad_json", "missing_lead_id", "unknown_event_type", "bad_ts", "negative_duration")


def blank_missing(df: pd.DataFrame, rng: np.random.Generator) -> dict[str, int]:
    """Blank out values per :data:`MISSING_RATES` in place; returns counts per column."""
    counts: dict[str, int] = {}
    for col, rate in MISSING_RATES.items():
        if col not in df.columns:
            continue
        mask = rng.random(len(df)) < rate
        df.loc[mask, col] = ""
        counts[col] = int(mask.sum())
    return counts


def inject_unknown(df: pd.DataFrame, rows: np.ndarray) -> dict[str, int]:
    """Put out-of-vocabulary categories in ``rows`` (cycled over :data:`UNKNOWN_VALUES`)."""
    counts: dict[str, int] = {}
    cols = [c for c in UNKNOWN_VALUES if c in df.columns]
    for i, col in enumerate(cols):
        sel = rows[i:: len(cols)]
        df.loc[df.index[sel], col] = UNKNOWN_VALUES[col]
        counts[col] = int(len(sel))
    return counts


def corrupt_values(df: pd.DataFrame, rows: np.ndarray, timestamp_col: str, id_col: str) -> dict[int, str]:
    """Assign a malformation kind to each of ``rows`` and apply the value-level ones in place.

    Returns:
        Row position -> kind; ``too_few_fields``/``too_many_fields`` are applied to the CSV text later
        by :func:`corrupt_lines`.
    """
    kinds: dict[int, str] = {}
    for j, pos in enumerate(rows):
        kind = MALFORMED_KINDS[j % len(MALFORMED_KINDS)]
        kinds[int(pos)] = kind
        idx = df.index[pos]
        if kind == "bad_number":
            df.at[idx, "visas_requested"] = "three"
        elif kind == "out_of_range":
            df.at[idx, "visas_requested"] = "-2"
        elif kind == "missing_id":
            df.at[idx, id_col] = ""
        elif kind == "bad_timestamp":
            df.at[idx, timestamp_col] = "31/02/2026 25:61"
        elif kind == "bad_boolean":
            df.at[idx, "has_existing_company"] = "maybe"
    return kinds


def corrupt_lines(lines: list[str], line_kinds: dict[int, str]) -> None:
    """Apply the field-count malformations to CSV text lines in place (index = line number - 1)."""
    for i, kind in line_kinds.items():
        if kind == "too_few_fields":
            parts = lines[i].split(",")
            lines[i] = ",".join(parts[: max(3, len(parts) // 2)])
        elif kind == "too_many_fields":
            lines[i] = lines[i] + ",EXTRA,junk"


def corrupt_events(df: pd.DataFrame, rng: np.random.Generator, rate: float) -> tuple[dict[str, int], list[int]]:
    """Make ``rate`` of the event rows invalid in place (all kinds but ``bad_json``).

    Returns:
        Counts per kind and the row positions whose JSON text must be truncated (``bad_json``).
    """
    n_bad = int(round(len(df) * rate))
    rows = rng.choice(len(df), size=n_bad, replace=False) if n_bad else np.zeros(0, dtype=np.int64)
    counts = dict.fromkeys(BAD_EVENT_KINDS, 0)
    truncate: list[int] = []
    for j, pos in enumerate(rows):
        kind = BAD_EVENT_KINDS[j % len(BAD_EVENT_KINDS)]
        counts[kind] += 1
        idx = df.index[pos]
        if kind == "bad_json":
            truncate.append(int(pos))
        elif kind == "missing_lead_id":
            df.at[idx, "lead_id"] = None
        elif kind == "unknown_event_type":
            df.at[idx, "event_type"] = "video_play"
        elif kind == "bad_ts":
            df.at[idx, "ts"] = "yesterday"
        elif kind == "negative_duration":
            df.at[idx, "duration_sec"] = -5
    return counts, truncate
