"""Bad input gets a 4xx naming the field and the reason, never a 5xx, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from leadscore_core.testkit import sample_lead


def _lead(**changes: Any) -> dict[str, Any]:
    lead = sample_lead()
    for k, v in changes.items():
        if v is ...:
            lead.pop(k, None)
        else:
            lead[k] = v
    return lead


CASES = [
    ("missing id", _lead(lead_id=...), 422, "lead_id", "required"),
    ("extra field", _lead(favourite_colour="blue"), 422, "favourite_colour", "unknown field"),
    ("wrong type", _lead(visas_requested="three"), 422, "visas_requested", "number"),
    ("bool for number", _lead(visas_requested=True), 422, "visas_requested", "number"),
    ("out of range", _lead(visas_requested=51), 422, "visas_requested", "above the maximum"),
    ("negative", _lead(email_opens=-1), 422, "email_opens", "below the minimum"),
    ("unknown category, reject", _lead(license_type="pirate"), 422, "license_type", "unknown category"),
    ("object as category", _lead(channel={"a": 1}), 422, "channel", ""),
    ("empty id", _lead(lead_id=""), 422, "lead_id", ""),
]


@pytest.mark.parametrize(("name", "body", "status", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_contract_violations_name_the_field(
    crm_url: str, name: str, body: Any, status: int, field: str, reason: str
) -> None:
    r = httpx.post(f"{crm_url}/score-lead", json=body)
    assert r.status_code == status, r.text
    issues = r.json()["issues"]
    assert any(i["field"] == field and reason in i["reason"] for i in issues), issues


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b'{"lead_id": "x", "visas_requested": NaN}', 400, "malformed JSON"),
        (b'{"lead_id": "x", "visas_requested": 1e999}', 400, "malformed JSON"),
        (b'{"lead_id": ', 400, "malformed JSON"),
        (b"[]", 422, "invalid request"),
        (b"42", 422, "invalid request"),
        (b"[1, 2]", 422, "request breaks the feature contract"),
        (b"\xff\xfe", 400, "malformed JSON"),
    ],
)
def test_malformed_bodies_are_400_or_422(crm_url: str, raw: bytes, status: int, reason: str) -> None:
    r = httpx.post(f"{crm_url}/score-lead", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"] == reason


def test_list_errors_carry_the_index(crm_url: str) -> None:
    r = httpx.post(f"{crm_url}/score-lead", json=[sample_lead(), _lead(visas_requested=99)])
    assert r.status_code == 422
    assert r.json()["issues"] == [{"field": "1.visas_requested", "reason": "99 is above the maximum 50"}]


def test_policies_other_and_missing_are_accepted(crm_url: str) -> None:
    r = httpx.post(f"{crm_url}/score-lead", json=_lead(channel="fax", company_size="9000", visas_requested=None))
    assert r.status_code == 200, r.text


def test_too_many_leads(crm_url: str) -> None:
    r = httpx.post(f"{crm_url}/score-lead", json=[sample_lead(lead_id=f"L{i}") for i in range(101)])
    assert r.status_code == 422
    assert "at most 100" in r.json()["issues"][0]["reason"]


def test_oversized_body_is_413(crm_url: str) -> None:
    big = _lead(full_name="x" * 1000)
    body = [big] * 1200  # ~1.9 MB > 1 MiB
    r = httpx.post(f"{crm_url}/score-lead", json=body)
    assert r.status_code == 413
    assert r.json()["issues"][0]["field"] == "body"

    def chunks():  # no content-length: the limit is enforced while streaming
        for _ in range(300):
            yield b" " * 8192

    r = httpx.post(f"{crm_url}/score-lead", content=chunks())
    assert r.status_code == 413


def test_still_serving_after_abuse(crm_url: str) -> None:
    assert httpx.post(f"{crm_url}/score-lead", json=sample_lead()).status_code == 200
