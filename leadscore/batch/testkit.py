"""Test kit of batch scoring (importable by tests and bench): gold rows as Arrow, with the awkward values.

:func:`gold_batch` draws ``lead_id`` and every feature of a spec: categoricals mostly from the vocabulary,
some unknown, some literally ``__other__``, empty or non-ASCII; numerics with NaN and nulls; booleans and
texts with nulls. :func:`mixed_spec` is ``crm_freezone`` with a native categorical and a text feature, so
every encoding path is exercised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from leadscore_core.contract import OTHER, FeatureDef, FeatureSpec, builtin_spec_path

ODD_STRINGS = ["", OTHER, 'Ünïcode "quoted" \\ café', "zz-unknown", "\u2028", "tab\there"]
"""Strings a categorical or text column can hold besides its vocabulary."""


def mixed_spec() -> FeatureSpec:
    """``crm_freezone`` with ``channel`` as a native categorical and a ``notes`` text feature."""
    data = yaml.safe_load(builtin_spec_path("crm_freezone").read_text())
    for f in data["features"]:
        if f["name"] == "channel":
            f["encoding"] = "native"
    data["features"].append({"name": "notes", "type": "text", "description": "Free text."})
    return FeatureSpec.model_validate(data)


def _column(f: FeatureDef, n: int, rng: np.random.Generator) -> pa.Array:
    missing = rng.random(n) < 0.06
    if f.type == "numeric":
        values: Any = np.round(rng.gamma(1.5, 20.0, n), int(rng.integers(0, 6)))
        values[rng.random(n) < 0.03] = np.nan  # NaN (not null) is missing too
        values[rng.random(n) < 0.03] = 0.0
        return pa.array(values, mask=missing, type=pa.float64())
    if f.type == "boolean":
        return pa.array(rng.random(n) < 0.4, mask=missing, type=pa.bool_())
    pool = [*(f.vocab or []), *ODD_STRINGS] if f.type == "categorical" else ["hi", "ça va?", "x" * 40, *ODD_STRINGS]
    picks = rng.integers(0, len(pool), n)
    return pa.array([None if m else pool[i] for m, i in zip(missing, picks, strict=True)], type=pa.string())


def gold_batch(spec: FeatureSpec, n: int, seed: int = 0, prefix: str = "G") -> pa.RecordBatch:
    """``n`` gold rows (``lead_id`` unique, then the spec's features) as one record batch."""
    rng = np.random.default_rng(seed)
    arrays = [pa.array([f"{prefix}{seed}-{i:07d}" for i in range(n)], type=pa.string())]
    arrays += [_column(f, n, rng) for f in spec.features]
    return pa.RecordBatch.from_arrays(arrays, names=["lead_id", *spec.feature_names])


def retyped(batch: pa.RecordBatch, column: str, kind: pa.DataType) -> pa.RecordBatch:
    """``batch`` with one column cast (e.g. to ``large_string`` or ``int64``) to exercise other layouts."""
    i = batch.schema.get_field_index(column)
    return batch.set_column(i, pa.field(column, kind), batch.column(i).cast(kind, safe=False))
