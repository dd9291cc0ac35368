"""V2 bodies exactly as the serving wire contract defines them (transformer -> predictor and back).

Used by the local logger stand-in when it scores in-process and by the tests' fixtures; the consumers
decode the same shapes in :mod:`leadscore_monitors.payload`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from leadscore_core.artifact import LeadScorer
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.events import V2_INPUT


def v2_request(
    encoder: FeatureEncoder, records: Sequence[Mapping[str, Any]], lead_keys: Sequence[str | None] | None = None
) -> dict[str, Any]:
    """The predictor's V2 infer request for clean records (one FP32 ``features`` tensor)."""
    x = encoder.encode_records(records)
    params: dict[str, Any] = {"explain": True}
    if lead_keys is not None:
        params["lead_keys"] = list(lead_keys)
    return {
        "id": str(uuid.uuid4()),
        "inputs": [
            {
                "name": V2_INPUT,
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": [None if np.isnan(v) else float(v) for v in x.ravel()],
            }
        ],
        "parameters": params,
    }


def v2_response(scorer: LeadScorer, request: Mapping[str, Any]) -> dict[str, Any]:
    """The predictor's V2 answer to :func:`v2_request`: probability, margin, tier, contributions."""
    assert scorer.manifest is not None
    tensor = next(t for t in request["inputs"] if t["name"] == V2_INPUT)
    x = np.asarray([np.nan if v is None else v for v in tensor["data"]], dtype=np.float32).reshape(tensor["shape"])
    batch = scorer.score(x, explain=True)
    assert batch.contributions is not None
    n = len(batch.probability)
    contribs = np.column_stack([batch.contributions, np.full(n, batch.base_value)])
    version = str(scorer.manifest.provenance.get("model_version", "unknown"))
    return {
        "id": request.get("id"),
        "model_name": scorer.manifest.model_name,
        "model_version": version,
        "outputs": [
            {"name": "probability", "shape": [n], "datatype": "FP64", "data": batch.probability.tolist()},
            {"name": "margin", "shape": [n], "datatype": "FP64", "data": batch.margin.tolist()},
            {"name": "tier", "shape": [n], "datatype": "BYTES", "data": list(batch.tier)},
            {
                "name": "contributions",
                "shape": list(contribs.shape),
                "datatype": "FP64",
                "data": contribs.ravel().tolist(),
            },
        ],
        "parameters": {"model_version": version},
    }
