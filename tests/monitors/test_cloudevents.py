"""The exact KServe logger format (fixtures in tests/testdata/cloudevents) through parsing and decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadscore_core.contract import load_spec
from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE
from leadscore_monitors.cloudevent import BadEvent, LoggedEvent, logger_event, parse_event
from leadscore_monitors.forwarder import redact
from leadscore_monitors.payload import RequestDecoder, decode_response

FIXTURES = Path(__file__).resolve().parents[1] / "testdata" / "cloudevents"
TYPES = [REQUEST_TYPE, RESPONSE_TYPE]


def load(name: str) -> tuple[dict[str, str], bytes]:
    data = json.loads((FIXTURES / name).read_text())
    return data["headers"], data["body"].encode()


def parsed(name: str) -> LoggedEvent:
    return parse_event(*load(name), TYPES)


def test_request_and_response_share_the_join_key() -> None:
    req, resp = parsed("v2_request.json"), parsed("v2_response.json")
    assert req.id == resp.id == "5f0d6a7e-0b3e-4f59-8d7a-2c4e1b9f3a10"
    assert (req.type, resp.type) == (REQUEST_TYPE, RESPONSE_TYPE)
    assert req.source == "http://localhost:9081/"
    assert (req.inferenceservicename, req.namespace, req.component, req.endpoint) == (
        "lead-scoring",
        "leadscore",
        "predictor",
        "default",
    )
    assert parsed("v2_request_canary.json").endpoint == "canary"


def test_v2_bodies_decode_to_contract_values_and_predictions() -> None:
    spec = load_spec("crm_freezone")
    leads = RequestDecoder(spec, "salt").decode(parsed("v2_request.json").body)
    assert len(leads) == 2
    for lead in leads:
        assert set(lead.features) == set(spec.feature_names)
        assert lead.features["lead_source"] in spec.feature("lead_source").categories
        assert lead.lead_key and len(lead.lead_key) == 32
    preds = decode_response(parsed("v2_response.json").body, spec.feature_names)
    assert len(preds) == 2 and all(0 <= p.probability <= 1 for p in preds)
    assert preds[0].model_version == "1" and preds[0].tier in {"A", "B", "C", "D"}
    assert len(preds[0].reasons) == 3


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("bad_missing_id.json", 400, "missing_id"),
        ("bad_unknown_type.json", 422, "unknown_type"),
        ("bad_not_json.json", 400, "malformed"),
    ],
)
def test_bad_fixtures_are_refused_with_a_reason(name: str, status: int, kind: str) -> None:
    with pytest.raises(BadEvent) as info:
        parsed(name)
    assert (info.value.status, info.value.kind) == (status, kind)
    assert info.value.reason


def test_contract_breach_names_the_tensor() -> None:
    with pytest.raises(BadEvent) as info:
        RequestDecoder(load_spec("crm_freezone"), "s").decode(parsed("bad_contract.json").body)
    assert info.value.status == 422 and "features" in info.value.reason


def test_logger_stand_in_emits_the_same_shape() -> None:
    headers, body = load("v2_request.json")
    ours_h, ours_b = logger_event(
        REQUEST_TYPE,
        headers["Ce-Id"],
        body,
        source=headers["Ce-Source"],
        inferenceservicename="lead-scoring",
        namespace="leadscore",
    )
    assert {k.lower() for k in headers} == set(ours_h)
    assert ours_b == body
    assert parse_event(ours_h, ours_b, TYPES).id == headers["Ce-Id"]


def test_crm_bodies_are_redacted_and_validated() -> None:
    spec = load_spec("crm_freezone")
    lead = {
        "lead_id": "L-9",
        "full_name": "A B",
        "email": "a@b.c",
        "phone": "+1",
        "lead_source": "website",
        "license_type": "commercial",
        "web_visits": 3,
    }
    clean = json.loads(redact(spec, json.dumps(lead).encode(), "salt"))
    assert not {"lead_id", "full_name", "email", "phone"} & set(clean) and clean["lead_key"]
    (decoded,) = RequestDecoder(spec, "salt").decode(clean)
    assert decoded.lead_key == clean["lead_key"] and decoded.features["web_visits"] == 3.0
    with pytest.raises(BadEvent, match="web_visits"):
        RequestDecoder(spec, "salt").decode({**clean, "web_visits": -5})
