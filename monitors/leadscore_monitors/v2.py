"""V2 bodies scored in process by an artifact, in the wire format of :mod:`leadscore_core.wire`.

Used by the local logger stand-in (replay) when it scores in-process and by the tests' fixtures; the
consumers decode the same shapes in :mod:`leadscore_monitors.payload`. The model version is the one the
artifact records (provenance, or the registry download's ``registry.json``), as the predictor reports it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from leadscore_core.artifact import LeadScorer, artifact_version
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.wire import (
    V2_INPUT,
    ScoreOutputs,
    features_from_tensor,
    find_tensor,
    request_body,
    response_body,
)


def score_outputs(scorer: LeadScorer, x: np.ndarray) -> ScoreOutputs:
    """Score and explain an encoded batch as the predictor answers it."""
    assert scorer.manifest is not None
    batch = scorer.score(x, explain=True)
    assert batch.contributions is not None
    return ScoreOutputs(
        probability=batch.probability,
        margin=batch.margin,
        tier=batch.tier,
        contributions=batch.contributions,
        base_value=np.full(len(batch.margin), batch.base_value),
        model_name=scorer.manifest.model_name,
        model_version=artifact_version(scorer.path, scorer.manifest),
    )


def v2_request(
    encoder: FeatureEncoder, records: Sequence[Mapping[str, Any]], lead_keys: Sequence[str | None] | None = None
) -> dict[str, Any]:
    """The predictor's V2 infer request for clean records (one FP32 ``features`` tensor)."""
    return request_body(encoder.encode_records(records), lead_keys, str(uuid.uuid4()))


def v2_pairs(
    scorer: LeadScorer, records: Sequence[Mapping[str, Any]], lead_keys: Sequence[str | None]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One (request, response) per lead, all scored in one booster call (replay of many single-lead calls)."""
    assert scorer.encoder is not None
    x = scorer.encoder.encode_records(records)
    out = score_outputs(scorer, x)
    pairs = []
    for i in range(len(records)):
        req = request_body(x[i : i + 1], [lead_keys[i]], str(uuid.uuid4()))
        pairs.append((req, response_body(out.rows(i, i + 1), req["id"])))
    return pairs


def v2_response(scorer: LeadScorer, request: Mapping[str, Any]) -> dict[str, Any]:
    """The predictor's V2 answer to :func:`v2_request`: probability, margin, tier, contributions."""
    assert scorer.encoder is not None
    tensor = find_tensor(request["inputs"], V2_INPUT)
    x = features_from_tensor(tensor["shape"], tensor["data"], scorer.encoder.n_columns)
    return response_body(score_outputs(scorer, x), request.get("id"))
