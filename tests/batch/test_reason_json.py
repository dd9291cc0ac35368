"""Vectorized reason JSON: the same text, character for character, as ``json.dumps`` of the per-lead reasons."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from leadscore.batch.arrow_features import encode_batch
from leadscore.batch.reason_json import BatchValues, float_texts, plain, reason_texts, round6
from leadscore.batch.testkit import gold_batch, retyped
from leadscore_core.artifact import LeadScorer
from leadscore_core.testkit import make_artifact
from training.features import feature_columns

EDGES = [0.0, -0.0, 1.0, -1.0, 1e-4, -1e-4, 9.9999e-5, 1e-5, 5e-7, 1e9, 999999999.9, 1e16, 123.456, 0.1, 1 / 3]
EDGES += [0.0078125, -0.0078125, 2.5e-7, 1.5e-6, 0.0000005, float("nan"), float("inf"), float("-inf"), 5e-324]


def _numbers(seed: int, n: int = 60_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spread = rng.standard_normal(n) * 10.0 ** rng.integers(-9, 18, n)
    decimals = np.rint(rng.standard_normal(n) * 1e7) / 10.0 ** rng.integers(0, 9, n)
    ties = (rng.integers(-(10**7), 10**7, n) + 0.5) / 1e6  # halfway between two multiples of 1e-6
    return np.concatenate([spread, decimals, ties, rng.uniform(-3, 3, n), EDGES])


@pytest.mark.parametrize("seed", [0, 1])
def test_float_texts_are_json_dumps(seed: int) -> None:
    values = _numbers(seed)
    assert float_texts(values).to_pylist() == [json.dumps(v) for v in values.tolist()]


@pytest.mark.parametrize("seed", [0, 1])
def test_round6_is_pythons_round(seed: int) -> None:
    values = _numbers(seed)
    got = round6(values)
    want = np.array([round(v, 6) for v in values.tolist()])
    assert [json.dumps(v) for v in got.tolist()] == [json.dumps(v) for v in want.tolist()]  # sign of zero too


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> LeadScorer:
    return LeadScorer(make_artifact(tmp_path_factory.mktemp("art") / "model", n=1500, rounds=40)).load()


def _reference(scorer: LeadScorer, batch: pa.RecordBatch, k: int) -> list[str]:
    """What the online path and the CRM hold: ``json.dumps`` of ``LeadScorer.reasons`` per lead."""
    scored = scorer.score(encode_batch(scorer.encoder, batch), explain=True, compiled=False)
    cols = feature_columns(batch.to_pandas(), scorer.spec)
    return [
        json.dumps(scorer.reasons(scored, i, {name: plain(v[i]) for name, v in cols.items()}, k=k))
        for i in range(batch.num_rows)
    ]


def _texts(scorer: LeadScorer, batch: pa.RecordBatch, k: int) -> list[str]:
    scored = scorer.score(encode_batch(scorer.encoder, batch), explain=True, compiled=False)
    return reason_texts(scored.contributions, scorer.spec.features, BatchValues(scorer.spec, batch), k).to_pylist()


@pytest.mark.parametrize(
    ("n", "seed", "k"), [(1, 0, 3), (40, 1, 3), (2500, 2, 3), (300, 3, 1), (300, 4, 0), (60, 5, 99)]
)
def test_reason_texts_are_the_per_lead_json(scorer: LeadScorer, n: int, seed: int, k: int) -> None:
    batch = gold_batch(scorer.spec, n, seed)
    got = _texts(scorer, batch, k)
    assert got == _reference(scorer, batch, k)
    assert all(len(json.loads(t)) == min(k, len(scorer.spec.features)) for t in got)


def test_reason_texts_of_unusual_column_types_are_the_per_lead_json(scorer: LeadScorer) -> None:
    batch = retyped(
        retyped(gold_batch(scorer.spec, 400, 8), "visas_requested", pa.string()), "lead_source", pa.large_string()
    )
    assert _texts(scorer, batch, 3) == _reference(scorer, batch, 3)


def test_reason_texts_quote_values_as_json(scorer: LeadScorer) -> None:
    batch = gold_batch(scorer.spec, 800, 11)
    reasons = [json.loads(t) for t in _texts(scorer, batch, len(scorer.spec.features))]
    rows = batch.to_pylist()
    for row, lead in zip(rows, reasons, strict=True):
        for r in lead:
            want = row[r["feature"]]
            if isinstance(want, float) and want != want:
                want = None
            assert r["value"] == want
            if r["contribution"] != 0:  # a rounded zero keeps the direction of the unrounded contribution
                assert r["direction"] == ("increases" if r["contribution"] > 0 else "decreases")
