"""ScoringFront: contract validation, encoding, V2 wire body and CRM response building."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from leadscore_core import load_spec
from leadscore_core.events import lead_key
from leadscore_core.wire import ScoreOutputs, outputs_from_response, request_body
from leadscore_front.errors import RequestError
from leadscore_front.front import ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.settings import FrontSettings

LEAD = {
    **{name: None for name in load_spec("crm_freezone").feature_names},  # every key; null = unknown
    "lead_id": "L-9",
    "email": "someone@example.com",
    "full_name": "Some One",
    "lead_source": "website",
    "license_type": "commercial",
    "visas_requested": 2,
    "has_existing_company": True,
}


@pytest.fixture
def front() -> ScoringFront:
    settings = FrontSettings(rate_limit="", max_leads=3)
    return ScoringFront(load_spec("crm_freezone"), settings, FrontMetrics(CollectorRegistry(), "default"))


def parse(front: ScoringFront, body: object) -> object:
    return front.parse(json.dumps(body).encode(), "rid")


def test_one_lead_is_validated_with_the_core_rules(front: ScoringFront) -> None:
    p = parse(front, LEAD)
    assert p.single and p.lead_ids == ["L-9"]
    assert p.values[0]["campaign"] == "none"  # missing: impute
    assert p.values[0]["visas_requested"] == 2.0
    assert p.lead_keys == [lead_key("L-9", "leadscore-local-salt")]


def test_unknown_category_policies(front: ScoringFront) -> None:
    p = parse(front, {**LEAD, "channel": "fax", "company_size": "999"})
    assert p.values[0]["channel"] == "__other__"  # unknown: other
    assert p.values[0]["company_size"] is None  # unknown: missing
    with pytest.raises(RequestError) as exc:
        parse(front, {**LEAD, "license_type": "pirate"})  # unknown: reject
    assert exc.value.status == 422 and exc.value.issues[0].field == "license_type"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**LEAD, "visas_requested": 51}, 422, "visas_requested"),
        ({**LEAD, "visas_requested": "two"}, 422, "visas_requested"),
        ({k: v for k, v in LEAD.items() if k != "channel"}, 422, "channel"),
        ({**LEAD, "nope": 1}, 422, "nope"),
        ({k: v for k, v in LEAD.items() if k != "lead_id"}, 422, "lead_id"),
        ([LEAD] * 4, 422, "body"),
        ([], 422, "body"),
        ("x", 422, "body"),
    ],
)
def test_refusals_name_the_field(front: ScoringFront, body: object, status: int, field: str) -> None:
    with pytest.raises(RequestError) as exc:
        parse(front, body)
    assert exc.value.status == status
    assert exc.value.issues[0].field == field


def test_malformed_and_oversized(front: ScoringFront) -> None:
    with pytest.raises(RequestError) as exc:
        front.parse(b'{"lead_id": NaN}', "r")
    assert exc.value.status == 400
    with pytest.raises(RequestError) as exc:
        front.parse(b" " * (front.settings.max_body_bytes + 1), "r")
    assert exc.value.status == 413
    with pytest.raises(RequestError):
        front.check_length(str(front.settings.max_body_bytes + 1))


def test_v2_request_carries_no_pii(front: ScoringFront) -> None:
    p = parse(front, [LEAD, {**LEAD, "lead_id": "L-10", "visas_requested": None}])
    x = front.encode(p)
    body = request_body(x, p.lead_keys, p.request_id)
    text = json.dumps(body)
    for secret in ("someone@example.com", "Some One", "L-9", "L-10"):
        assert secret not in text
    assert body["inputs"][0]["shape"] == [2, front.encoder.n_columns]
    assert body["parameters"] == {"explain": True, "lead_keys": p.lead_keys}
    assert None in body["inputs"][0]["data"]  # missing numeric travels as null


def test_respond_orders_reasons_by_absolute_contribution(front: ScoringFront) -> None:
    p = parse(front, [LEAD, {**LEAD, "lead_id": "L-10"}])
    n_f = len(front.spec.features)
    contrib = np.zeros((2, n_f + 1))
    contrib[0, 1], contrib[0, 5], contrib[0, 7] = 0.5, -2.0, 1.0
    contrib[:, -1] = -1.0
    body = {
        "model_name": "lead-scoring",
        "outputs": [
            {"name": "probability", "shape": [2], "datatype": "FP64", "data": [0.8, 0.1]},
            {"name": "margin", "shape": [2], "datatype": "FP64", "data": [0.5, -1.0]},
            {"name": "tier", "shape": [2], "datatype": "BYTES", "data": [b"A", "D"]},
            {"name": "contributions", "shape": [2, n_f + 1], "datatype": "FP64", "data": contrib.ravel().tolist()},
        ],
        "parameters": {"model_version": "3"},
    }
    out: ScoreOutputs = outputs_from_response(body)
    res = front.respond(p, out)
    names = front.spec.feature_names
    assert [r["feature"] for r in res[0]["reasons"]] == [names[5], names[7], names[1]]
    assert res[0]["reasons"][0]["direction"] == "decreases"
    assert res[0]["score"] == 80 and res[1]["tier"] == "D" and res[1]["model_version"] == "3"
    assert res[0]["scored_at"].endswith("Z")


def test_imputed_and_unknown_fields_are_named_per_lead_and_counted() -> None:
    registry = CollectorRegistry()
    front = ScoringFront(load_spec("crm_freezone"), FrontSettings(rate_limit=""), FrontMetrics(registry, "r"))
    p = parse(
        front, [LEAD, {**LEAD, "lead_id": "L-10", "channel": "fax", "campaign": "summer_promo", "visas_requested": "3"}]
    )
    assert "campaign" in p.imputed[0] and "visas_requested" not in p.imputed[0]  # missing: impute
    assert "channel" in p.imputed[0]  # null with missing: allow is scored as missing, and said so
    assert p.unknown == [[], ["channel"]] and p.values[1]["channel"] == "__other__"
    assert p.values[1]["visas_requested"] == 3.0  # a numeric string, as ingest takes it
    n = len(front.encoder.feature_names)
    out = ScoreOutputs(np.array([0.2, 0.8]), np.zeros(2), ["D", "A"], np.zeros((2, n)), np.zeros(2), "m", "1")
    res = front.respond(p, out)
    assert res[0]["imputed"] == p.imputed[0] and res[1]["unknown_categories"] == ["channel"]

    def count(name: str, feature: str) -> float:
        return registry.get_sample_value(name, {"revision": "r", "feature": feature}) or 0.0

    assert count("leadscore_feature_unknown_category_total", "channel") == 1
    assert count("leadscore_feature_missing_total", "campaign") == 1


def test_api_names_are_the_specs_and_raw_columns_are_pointed_to_them() -> None:
    spec = load_spec("bank_marketing")
    front = ScoringFront(spec, FrontSettings(rate_limit=""), FrontMetrics(CollectorRegistry(), "b"))
    lead = {spec.id_column: "row-1", **{name: None for name in spec.feature_names}}
    assert parse(front, lead).lead_ids == ["row-1"]
    with pytest.raises(RequestError) as exc:
        parse(front, {**{k: v for k, v in lead.items() if k != "emp_var_rate"}, "emp.var.rate": 1.1})
    reasons = {i.field: i.reason for i in exc.value.issues}
    assert "the API name of this column is 'emp_var_rate'" in reasons["emp.var.rate"]
    assert reasons["emp_var_rate"] == "is required (send null if the value is unknown)"
