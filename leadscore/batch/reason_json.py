"""Reason codes of a whole batch as JSON texts, vectorized, equal to the per-lead reference.

The reference (what the online path returns and the CRM's ``reasons`` column holds) is, per lead ``i``,
``json.dumps(LeadScorer.reasons(batch, i, values_i))``: the top-k features by absolute contribution
(:func:`leadscore_core.reasons.top_k_order`), each ``{"feature", "value", "contribution" (rounded to 1e-6),
"direction"}``. Building and serializing dicts per lead costs ~25 us; here the top-k order is taken for the
whole batch, each feature's reason texts are built for the leads it is a reason of with Arrow kernels, and
the texts are joined with the separators ``json.dumps`` uses. tests/batch compare with the reference,
character for character.

Two shortcuts, each taken only where it provably gives Python's answer (elsewhere Python computes it):

* :func:`round6`: ``rint(c * 1e6) / 1e6`` is Python's ``round(c, 6)`` (both are the double nearest to the
  same multiple of 1e-6) unless ``c * 1e6`` is within 1e-6 of a tie or too large to be exact;
* :func:`float_texts`: Arrow's float -> string cast writes the same shortest round-trip digits as
  ``repr`` (and so ``json.dumps``); for 1e-4 <= |v| < 1e9 and zero both use positional notation, and
  Arrow drops the ``.0`` of whole numbers, which is added back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.batch.arrow_features import as_float64, fast_layout
from leadscore_core.contract import FeatureDef, FeatureSpec
from leadscore_core.reasons import top_k_order

_TIE_BAND = 1e-6
_EXACT_LIMIT = 2.0**31
_POSITIONAL = (1e-4, 1e9)


def plain(value: Any) -> Any:
    """A clean feature value as the reasons quote it: NaN -> None, numpy scalars -> Python scalars."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def float_text(value: float) -> str:
    """``json.dumps`` of one float (``allow_nan``: NaN and the infinities as JavaScript names)."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def round6(values: np.ndarray) -> np.ndarray:
    """``round(v, 6)`` of each value (Python's correctly rounded decimal rounding, not ``np.round``)."""
    scaled = values * 1e6
    nearest = np.rint(scaled)
    with np.errstate(invalid="ignore"):
        unsure = ~(np.abs(scaled) < _EXACT_LIMIT) | (np.abs(np.abs(scaled - nearest) - 0.5) < _TIE_BAND)
    out = nearest / 1e6
    for i in np.flatnonzero(unsure):
        out[i] = round(float(values[i]), 6)
    return out


def float_texts(values: np.ndarray) -> pa.Array:
    """``json.dumps`` text of each float, as an Arrow string array."""
    values = np.asarray(values, dtype=np.float64)
    text = pc.cast(pa.array(values, type=pa.float64()), pa.string())
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        positional = ((magnitude >= _POSITIONAL[0]) & (magnitude < _POSITIONAL[1])) | (magnitude == 0)
    whole = pc.invert(pc.match_substring(text, "."))
    text = pc.if_else(whole, pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
    slow = np.flatnonzero(~positional)
    if len(slow) == 0:
        return text
    listed = text.to_pylist()
    for i in slow.tolist():
        listed[i] = float_text(float(values[i]))
    return pa.array(listed, type=pa.string())


class BatchValues:
    """The JSON text of each lead's clean feature values (``training.features.feature_columns`` + ``plain``),
    computed only for the rows asked."""

    def __init__(self, spec: FeatureSpec, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self._columns: dict[str, Any] | None = None
        if not fast_layout(spec, batch.schema):  # unusual column types: the reference conversion itself
            from training.features import feature_columns

            self._columns = feature_columns(batch.select(spec.feature_names).to_pandas(), spec)

    def texts(self, f: FeatureDef, rows: np.ndarray) -> pa.Array:
        """JSON texts of feature ``f``'s value at ``rows``."""
        if self._columns is not None:
            return pa.array([json.dumps(plain(v)) for v in self._columns[f.name][rows]], type=pa.string())
        column = self.batch.column(f.name).take(pa.array(rows, type=pa.int64()))
        if f.type == "numeric":
            numbers = as_float64(column)
            missing = np.isnan(numbers)
            return pc.if_else(pa.array(missing), pa.scalar("null"), float_texts(np.where(missing, 0.0, numbers)))
        if f.type == "boolean":
            return pc.fill_null(pc.if_else(column, pa.scalar("true"), pa.scalar("false")), "null")
        encoded = pc.dictionary_encode(column)  # categorical, text: each distinct string serialized once
        lookup = pa.array([json.dumps(s) for s in encoded.dictionary.to_pylist()] + ["null"], type=pa.string())
        return lookup.take(pc.fill_null(encoded.indices, len(lookup) - 1))


def _feature_items(f: FeatureDef, rows: np.ndarray, contributions: np.ndarray, values: BatchValues) -> pa.Array:
    """The reason object texts of feature ``f`` for ``rows`` (its contributions there)."""
    head = pa.scalar('{"feature": ' + json.dumps(f.name) + ', "value": ')
    tail = pc.if_else(
        pa.array(contributions >= 0),
        pa.scalar(', "direction": "increases"}'),
        pa.scalar(', "direction": "decreases"}'),
    )
    middle = pa.scalar(', "contribution": ')
    contribution = float_texts(round6(contributions))
    return pc.binary_join_element_wise(head, values.texts(f, rows), middle, contribution, tail, "")


def reason_texts(contributions: np.ndarray, features: Sequence[FeatureDef], values: BatchValues, k: int) -> pa.Array:
    """Per lead, the JSON text of its top-``k`` reasons (``contributions``: shape (n, n_features), in the
    spec's feature order), as an Arrow string array."""
    order = top_k_order(contributions, k)
    n, slots = order.shape
    if slots == 0:
        return pa.array(["[]"] * n, type=pa.string())
    position = np.empty((n, slots), dtype=np.int64)
    parts: list[pa.Array] = []
    offset = 0
    for j, f in enumerate(features):
        rows, slot = np.nonzero(order == j)
        if len(rows):
            parts.append(_feature_items(f, rows, contributions[rows, j], values))
            position[rows, slot] = offset + np.arange(len(rows))
            offset += len(rows)
    items = pa.concat_arrays(parts)
    pieces: list[Any] = [pa.scalar("[")]
    for s in range(slots):
        pieces += [pa.scalar(", ")] if s else []
        pieces.append(items.take(pa.array(position[:, s])))
    return pc.binary_join_element_wise(*pieces, pa.scalar("]"), "")
