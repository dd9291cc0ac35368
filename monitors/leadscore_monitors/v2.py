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


def v2_pairs(
    scorer: LeadScorer, records: Sequence[Mapping[str, Any]], lead_keys: Sequence[str | None]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One (request, response) per lead, all scored in one booster call (replay of many single-lead calls)."""
    assert scorer.encoder is not None and scorer.manifest is not None
    x = scorer.encoder.encode_records(records)
    batch = scorer.score(x, explain=True)
    assert batch.contributions is not None
    version = str(scorer.manifest.provenance.get("model_version", "unknown"))
    out = []
    for i in range(len(records)):
        req = {
            "id": str(uuid.uuid4()),
            "inputs": [
                {
                    "name": V2_INPUT,
                    "shape": [1, x.shape[1]],
                    "datatype": "FP32",
                    "data": [None if np.isnan(v) else float(v) for v in x[i]],
                }
            ],
            "parameters": {"explain": True, "lead_keys": [lead_keys[i]]},
        }
        contribs = [*batch.contributions[i].tolist(), batch.base_value]
        resp = {
            "id": req["id"],
            "model_name": scorer.manifest.model_name,
            "model_version": version,
            "outputs": [
                {"name": "probability", "shape": [1], "datatype": "FP64", "data": [float(batch.probability[i])]},
                {"name": "margin", "shape": [1], "datatype": "FP64", "data": [float(batch.margin[i])]},
                {"name": "tier", "shape": [1], "datatype": "BYTES", "data": [batch.tier[i]]},
                {"name": "contributions", "shape": [1, len(contribs)], "datatype": "FP64", "data": contribs},
            ],
            "parameters": {"model_version": version},
        }
        out.append((req, resp))
    return out


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
