"""Record rules shared by bronze, serving and the monitors."""

import math

import pytest

from leadscore_core import load_spec
from leadscore_core.contract import OTHER
from leadscore_core.validation import check_record


@pytest.fixture(scope="module")
def crm():
    return load_spec("crm_freezone")


def test_clean_record_is_typed(crm):
    rec = check_record(
        crm,
        {
            "lead_source": "website",
            "visas_requested": "3",
            "has_existing_company": "yes",
            "license_type": "commercial",
            "company_size": "2-5",
        },
    )
    assert rec.ok
    assert rec.values["visas_requested"] == 3.0
    assert rec.values["has_existing_company"] is True
    assert rec.values["company_size"] == "2-5"


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("visas_requested", "lots", "expected a number"),
        ("visas_requested", 51, "above the maximum 50"),
        ("visas_requested", -1, "below the minimum 0"),
        ("visas_requested", math.inf, "not a finite number"),
        ("visas_requested", True, "got a boolean"),
        ("has_existing_company", "maybe", "expected a boolean"),
        ("license_type", "offshore", "unknown category 'offshore'"),
        ("lead_source", {"a": 1}, "expected a category"),
    ],
)
def test_contract_breaches_name_field_and_reason(crm, field, raw, reason):
    rec = check_record(crm, {field: raw})
    assert not rec.ok
    issue = next(i for i in rec.issues if i.field == field)
    assert reason in issue.reason


def test_unknown_category_policies(crm):
    rec = check_record(crm, {"lead_source": "tiktok", "company_size": "500+", "license_type": "commercial"})
    assert rec.values["lead_source"] == OTHER  # unknown: other
    assert rec.values["company_size"] is None  # unknown: missing
    assert set(rec.unknown) == {"lead_source", "company_size"}
    assert rec.ok


def test_missing_policies(crm):
    rec = check_record(crm, {"campaign": "", "visas_requested": None})
    assert rec.values["campaign"] == "none"  # impute
    assert rec.values["visas_requested"] is None  # allow
    assert {"campaign", "visas_requested"} <= set(rec.missing)


def test_source_names_and_missing_values():
    bank = load_spec("bank_marketing")
    rec = check_record(
        bank,
        {
            "emp.var.rate": "1.1",
            "pdays": "999",
            "job": "unknown",
            "contact": "cellular",
            "month": "may",
            "day_of_week": "mon",
        },
        source_names=True,
    )
    assert rec.values["emp_var_rate"] == 1.1
    assert rec.values["pdays"] is None and rec.values["job"] is None
    assert rec.ok
