"""/score-lead end to end on the real servers: results, reasons vs the model's margin, V2 contract."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import xgboost as xgb

from leadscore_core.artifact import LeadScorer
from leadscore_core.testkit import sample_lead
from leadscore_core.validation import check_record

FIELDS = {
    "lead_id",
    "score",
    "probability",
    "tier",
    "reasons",
    "model_name",
    "model_version",
    "request_id",
    "scored_at",
    "imputed",
    "unknown_categories",
}


def test_one_lead_gets_the_documented_response(crm_url: str) -> None:
    r = httpx.post(f"{crm_url}/score-lead", json=sample_lead(), headers={"X-Request-Id": "req-42"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == FIELDS
    assert body["lead_id"] == "L-1" and body["request_id"] == "req-42"
    assert 0 <= body["score"] <= 100 and body["score"] == round(body["probability"] * 100)
    assert body["tier"] in {"A", "B", "C", "D"}
    assert body["model_name"] == "lead-scoring" and body["model_version"] == "7"
    assert len(body["reasons"]) == 3
    assert {"feature", "value", "contribution", "direction"} <= set(body["reasons"][0])
    assert "email" not in body and "full_name" not in body


def test_a_list_keeps_order_and_both_designs_agree(
    transformer: tuple[str, object], predictor: tuple[str, object]
) -> None:
    leads = [sample_lead(lead_id=f"L-{i}", seed=i) for i in range(6)]
    a = httpx.post(f"{transformer[0]}/score-lead", json=leads).json()
    b = httpx.post(f"{predictor[0]}/score-lead", json=leads).json()
    assert [x["lead_id"] for x in a] == [f"L-{i}" for i in range(6)]
    assert [x["probability"] for x in a] == [x["probability"] for x in b]
    assert [x["reasons"] for x in a] == [x["reasons"] for x in b]
    assert len({x["request_id"] for x in a}) == 1


def test_probability_matches_offline_scorer(crm_url: str, artifact: Path) -> None:
    scorer = LeadScorer(artifact).load()
    lead = sample_lead(seed=11)
    x = scorer.encoder.encode_records([check_record(scorer.spec, lead).values])  # type: ignore[union-attr]
    expected = float(scorer.score(x).probability[0])
    got = httpx.post(f"{crm_url}/score-lead", json=lead).json()["probability"]
    assert abs(got - expected) < 1e-6


def test_v2_contributions_and_base_value_sum_to_the_raw_margin(predictor: tuple[str, object], artifact: Path) -> None:
    scorer = LeadScorer(artifact).load()
    leads = [sample_lead(lead_id=f"M-{i}", seed=20 + i) for i in range(4)]
    leads[0]["visas_requested"] = None  # a missing value travels as null
    x = scorer.encoder.encode_records([check_record(scorer.spec, lead).values for lead in leads])  # type: ignore[union-attr]
    body = {
        "inputs": [
            {
                "name": "features",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": [None if v != v else v for v in x.ravel().tolist()],
            }
        ],
        "parameters": {"explain": True},
    }
    r = httpx.post(f"{predictor[0]}/v2/models/lead-scoring/infer", json=body)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["parameters"]["model_version"] == "7"
    margin = np.asarray(out["margin"]["data"])
    contrib = np.asarray(out["contributions"]["data"]).reshape(out["contributions"]["shape"])
    assert contrib.shape == (4, len(scorer.spec.features) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-4)
    booster = xgb.Booster()
    booster.load_model(str(artifact / "booster.json"))
    np.testing.assert_allclose(margin, booster.predict(xgb.DMatrix(x), output_margin=True), atol=1e-5)
    assert out["tier"]["datatype"] == "BYTES" and len(out["tier"]["data"]) == 4

    # the CRM reasons are the top-3 of exactly these contributions
    crm = httpx.post(f"{predictor[0]}/score-lead", json=leads).json()
    names = scorer.spec.feature_names
    for i, res in enumerate(crm):
        top = np.argsort(-np.abs(contrib[i, :-1]), kind="stable")[:3]
        assert [r["feature"] for r in res["reasons"]] == [names[j] for j in top]
        for reason, j in zip(res["reasons"], top, strict=True):
            assert abs(reason["contribution"] - contrib[i, j]) < 1e-5


def test_v2_refuses_bad_tensors_with_4xx(predictor: tuple[str, object]) -> None:
    url = f"{predictor[0]}/v2/models/lead-scoring/infer"
    wrong_shape = {"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    wrong_name = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}
    for body in (wrong_shape, wrong_name):
        r = httpx.post(url, json=body)
        assert 400 <= r.status_code < 500, r.text


def test_pii_is_not_logged(crm_url: str, transformer: tuple[str, object], predictor: tuple[str, object]) -> None:
    lead = sample_lead(lead_id="L-pii")
    lead["email"] = "unique.person.8841@example.com"
    lead["full_name"] = "Unique Person 8841"
    assert httpx.post(f"{crm_url}/score-lead", json=lead).status_code == 200
    lead["license_type"] = "bogus"  # a refused request must not log it either
    assert httpx.post(f"{crm_url}/score-lead", json=lead).status_code == 422
    for _, proc in (transformer, predictor):
        text = proc.log.read_text(errors="replace")  # type: ignore[attr-defined]
        assert "8841" not in text
