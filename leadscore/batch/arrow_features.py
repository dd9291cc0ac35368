"""Arrow record batches -> the booster's float32 matrix, vectorized, equal to training's ``encode_frame``.

Batch scoring receives gold rows as Arrow record batches (Spark's ``mapInArrow``). Going through pandas and
:meth:`~leadscore_core.encoding.FeatureEncoder.encode_columns` costs a Python loop per categorical value;
here each feature column is encoded with a few Arrow/numpy operations instead, to the same matrix (bit for
bit; tests/batch compare them): numeric -> float64 (null = NaN) -> float32; boolean -> 1/0 (null = NaN);
text -> its length in characters; categorical -> the vocabulary index of the string (``__other__`` when it
is not in the vocabulary, nothing when null), one-hot or as a native code.

Only the column types gold has take the fast path (:func:`fast_layout`); a batch with any other type is
converted to pandas and encoded by ``encode_frame`` itself, so the answer never depends on the path.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore_core.contract import OTHER, FeatureDef, FeatureSpec
from leadscore_core.encoding import FeatureEncoder


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def fast_type(f: FeatureDef, t: pa.DataType) -> bool:
    """True when a column of Arrow type ``t`` holding feature ``f`` takes the vectorized path."""
    if f.type == "numeric":
        return _is_number(t)
    if f.type == "boolean":
        return bool(pa.types.is_boolean(t))
    return _is_string(t)  # categorical, text


def fast_layout(spec: FeatureSpec, schema: pa.Schema) -> bool:
    """Every feature column of ``schema`` takes the vectorized path."""
    return all(fast_type(f, schema.field(f.name).type) for f in spec.features)


def as_float64(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric or boolean column as float64, null = NaN (the value pandas' ``to_numpy`` gives)."""
    return np.asarray(pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


def category_codes(f: FeatureDef, column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(rows that hold a value, their vocabulary index): ``__other__`` (the last index) when unknown."""
    assert f.vocab is not None
    vocab = pa.array([*f.vocab, OTHER], type=pa.string())
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    index = pc.index_in(pc.cast(column, pa.string()), value_set=vocab)
    codes = np.asarray(pc.fill_null(index, len(vocab) - 1).to_numpy(zero_copy_only=False), dtype=np.int64)
    rows = np.flatnonzero(valid)
    return rows, codes[rows]


def _starts(encoder: FeatureEncoder) -> dict[str, int]:
    """First encoded column of each business feature."""
    starts: dict[str, int] = {}
    for i, owner in enumerate(encoder.column_feature):
        starts.setdefault(owner, i)
    return starts


def encode_batch(encoder: FeatureEncoder, batch: pa.RecordBatch | pa.Table) -> np.ndarray:
    """The float32 model matrix of a batch of gold rows (``encode_frame(encoder, batch.to_pandas())``)."""
    spec = encoder.spec
    if not fast_layout(spec, batch.schema):
        from training.features import encode_frame

        return encode_frame(encoder, batch.select(spec.feature_names).to_pandas())
    native = set(encoder.native_codes)
    starts = _starts(encoder)
    x = np.zeros((batch.num_rows, encoder.n_columns), dtype=np.float32)
    for f in spec.features:
        start = starts[f.name]
        column = batch.column(f.name)
        if f.type == "categorical":
            rows, codes = category_codes(f, column)
            if start in native:
                x[:, start] = np.nan
                x[rows, start] = codes
            else:
                x[rows, start + codes] = 1.0
        elif f.type == "text":
            x[:, start] = as_float64(pc.utf8_length(column))
        else:
            x[:, start] = as_float64(column)
    return x
