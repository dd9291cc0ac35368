"""Logged V2 requests of a model with a learned, native categorical feature (issue 13) decode back to the
values serving encoded: one column of category codes (``__other__`` last, missing = null) beside one-hot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leadscore_core.contract import OTHER, FeatureSpec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.wire import request_body
from leadscore_monitors.payload import RequestDecoder


def _spec(levels: int) -> FeatureSpec:
    spec = FeatureSpec.model_validate(
        {
            "name": "native_logged",
            "entity": {"id": "lead_id", "order_by": "row_order"},
            "target": {"column": "y"},
            "features": [
                {"name": "region", "type": "categorical", "categories": ["north", "south"]},
                {"name": "agent", "type": "categorical", "categories": "learn", "encoding": "native"},
                {"name": "calls", "type": "numeric"},
                {"name": "returning", "type": "boolean"},
            ],
        }
    )
    return spec.with_vocabularies({"agent": [f"ag{i}" for i in range(levels)]})


@pytest.mark.parametrize(("levels", "seed"), [(3, 0), (495, 1)])
def test_native_codes_decode_to_the_categories_serving_encoded(levels: int, seed: int) -> None:
    spec = _spec(levels)
    vocab = spec.feature("agent").vocab or []
    rng = np.random.default_rng(seed)
    records = [
        {
            "region": str(rng.choice(["north", "south"])),
            "agent": vocab[int(rng.integers(levels))] if i % 5 else None,
            "calls": float(rng.integers(0, 9)),
            "returning": bool(i % 2),
        }
        for i in range(20)
    ]
    records.append({"region": "north", "agent": OTHER, "calls": None, "returning": None})
    x = FeatureEncoder(spec).encode_records(records)
    body = json.loads(json.dumps(request_body(x, [f"k{i}" for i in range(len(records))], "r-1")))
    leads = RequestDecoder(spec, "salt").decode(body)
    assert [lead.features for lead in leads] == records
    assert [lead.lead_key for lead in leads] == [f"k{i}" for i in range(len(records))]
