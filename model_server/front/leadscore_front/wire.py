"""The transformer -> predictor V2 wire contract (docs/architecture.md "Serving wire contract")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadscore_core.events import V2_INPUT

EXPLAIN = "explain"
LEAD_KEYS = "lead_keys"
MODEL_VERSION = "model_version"
MANIFEST_SPEC = "leadscore_spec"
"""V2 model-metadata parameter holding the artifact's feature spec (JSON)."""
TOP_K = "top_k_reasons"


@dataclass
class ScoreOutputs:
    """What the predictor answers for n leads."""

    probability: np.ndarray
    margin: np.ndarray
    tier: list[str]
    contributions: np.ndarray
    """Per business feature contribution to the margin, shape (n, n_features)."""
    base_value: np.ndarray
    """Per lead base value, shape (n,): ``base_value + contributions.sum(1) == margin``."""
    model_name: str
    model_version: str


def v2_request(x: np.ndarray, lead_keys: Sequence[str], request_id: str) -> dict[str, Any]:
    """The V2 infer body for an encoded batch. Missing values (NaN) travel as JSON ``null``."""
    data = [None if v != v else v for v in x.ravel().tolist()]
    return {
        "id": request_id,
        "inputs": [{"name": V2_INPUT, "shape": list(x.shape), "datatype": "FP32", "data": data}],
        "parameters": {EXPLAIN: True, LEAD_KEYS: list(lead_keys)},
    }


def outputs_from_tensors(
    tensors: Mapping[str, tuple[Sequence[Any], Sequence[int]]], model_name: str, model_version: str
) -> ScoreOutputs:
    """Decode the predictor's output tensors (name -> (flat or nested data, shape))."""

    def num(name: str) -> np.ndarray:
        data, shape = tensors[name]
        return np.asarray(data, dtype=np.float64).reshape(shape)

    contrib = num("contributions")
    tier_data, _ = tensors["tier"]
    tiers = [t.decode() if isinstance(t, bytes) else str(t) for t in tier_data]
    return ScoreOutputs(
        probability=num("probability").reshape(-1),
        margin=num("margin").reshape(-1),
        tier=tiers,
        contributions=contrib[:, :-1],
        base_value=contrib[:, -1],
        model_name=model_name,
        model_version=model_version,
    )
