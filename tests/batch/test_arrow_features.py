"""Arrow encoding of gold rows: the same float32 matrix as training's ``encode_frame`` on the same rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from leadscore.batch.arrow_features import encode_batch, fast_layout
from leadscore.batch.testkit import gold_batch, mixed_spec, retyped
from leadscore_core.contract import load_spec
from leadscore_core.encoding import FeatureEncoder
from training.features import encode_frame

SPECS = {"crm_freezone": lambda: load_spec("crm_freezone"), "mixed": mixed_spec}


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize(("n", "seed"), [(0, 0), (1, 1), (17, 2), (3000, 3)])
def test_vectorized_encoding_is_encode_frame(spec_name: str, n: int, seed: int) -> None:
    spec = SPECS[spec_name]()
    encoder = FeatureEncoder(spec)
    batch = gold_batch(spec, n, seed)
    assert fast_layout(spec, batch.schema)
    got = encode_batch(encoder, batch)
    want = encode_frame(encoder, batch.to_pandas())
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # NaN where NaN, every bit of every value


def test_native_codes_and_other_are_where_encode_frame_puts_them() -> None:
    spec = mixed_spec()
    encoder = FeatureEncoder(spec)
    batch = gold_batch(spec, 400, 5)
    x = encode_batch(encoder, batch)
    channel = encoder.columns.index("channel")
    codes = x[:, channel]
    values = batch.column("channel").to_pylist()
    vocab = spec.feature("channel").vocab
    for v, c in zip(values, codes, strict=True):
        if v is None:
            assert np.isnan(c)
        else:
            assert c == (vocab.index(v) if v in vocab else len(vocab))  # __other__ is last


@pytest.mark.parametrize(
    ("column", "kind"),
    [("lead_source", pa.large_string()), ("notes", pa.large_string()), ("visas_requested", pa.int64())],
)
def test_other_fast_column_types_encode_the_same(column: str, kind: pa.DataType) -> None:
    spec = mixed_spec()
    encoder = FeatureEncoder(spec)
    batch = retyped(gold_batch(spec, 500, 7), column, kind)
    assert fast_layout(spec, batch.schema)
    np.testing.assert_array_equal(encode_batch(encoder, batch), encode_frame(encoder, batch.to_pandas()))


def test_unusual_column_types_take_the_reference_path() -> None:
    spec = mixed_spec()
    encoder = FeatureEncoder(spec)
    batch = retyped(gold_batch(spec, 300, 9), "visas_requested", pa.string())  # numbers as text
    assert not fast_layout(spec, batch.schema)
    np.testing.assert_array_equal(encode_batch(encoder, batch), encode_frame(encoder, batch.to_pandas()))
