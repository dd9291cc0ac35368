"""Bronze row rules are the shared contract rules (same reasons as the serving API)."""

from __future__ import annotations

import pandas as pd

from leadscore.lakehouse.validate import validate_chunk
from leadscore_core.contract import load_spec
from leadscore_core.validation import check_record

GOOD = {
    "lead_id": "L1",
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-05T00:00:00Z",
    "converted": "true",
    "converted_at": "2026-01-04T00:00:00Z",
    "full_name": "A B",
    "email": "a@b.c",
    "phone": "+971500000000",
    "lead_source": "website",
    "channel": "web_form",
    "campaign": "",
    "nationality": "IN",
    "country_of_residence": "AE",
    "business_activity": "trading",
    "license_type": "commercial",
    "company_size": "2-5",
    "office_type": "flexi_desk",
    "budget_band": "<10k",
    "visas_requested": "2",
    "has_existing_company": "false",
    "pages_per_visit": "3.5",
    "email_opens": "4",
    "email_clicks": "1",
    "days_since_first_contact": "3",
}


def _run(rows: list[dict[str, str]]) -> pd.DataFrame:
    pdf = pd.DataFrame(rows)
    pdf["_line"] = range(2, len(rows) + 2)
    return validate_chunk(pdf, load_spec("crm_freezone"))


def test_valid_row_gets_clean_typed_values() -> None:
    out = _run([GOOD]).iloc[0]
    assert out["_reason"] is None
    assert out["f__visas_requested"] == 2.0 and out["f__campaign"] == "none"  # impute policy
    assert out["f__has_existing_company"] is False
    assert out["_label"] == 1 and str(out["_label_ts"]) == "2026-01-04 00:00:00+00:00"


def test_bad_rows_name_field_and_reason() -> None:
    rows = [
        {**GOOD, "visas_requested": "three"},
        {**GOOD, "visas_requested": "-2"},
        {**GOOD, "license_type": "offshore"},
        {**GOOD, "lead_id": ""},
        {**GOOD, "created_at": "31/02/2026 25:61"},
        {**GOOD, "has_existing_company": "maybe"},
    ]
    out = _run(rows)
    assert list(out["_field"]) == [
        "visas_requested",
        "visas_requested",
        "license_type",
        "lead_id",
        "created_at",
        "has_existing_company",
    ]
    assert "expected a number" in out["_reason"][0]
    assert "below the minimum" in out["_reason"][1]
    assert "unknown category 'offshore'" in out["_reason"][2]
    assert out["_reason"][3] == "lead_id: is required"
    assert "not a timestamp" in out["_reason"][4]


def test_unknown_categories_follow_the_policy_without_rejecting() -> None:
    out = _run([{**GOOD, "lead_source": "tiktok", "company_size": "10-20"}]).iloc[0]
    assert out["_reason"] is None
    assert out["f__lead_source"] == "__other__" and out["f__company_size"] is None


def test_bronze_and_serving_reject_the_same_things() -> None:
    spec = load_spec("crm_freezone")
    row = {**GOOD, "visas_requested": "-2", "license_type": "offshore"}
    serving = check_record(spec, row, features=spec.crm_features, source_names=True)
    out = _run([row]).iloc[0]
    assert out["_reason"] == "; ".join(str(i) for i in serving.issues)


def test_column_rule_equals_the_row_rule_for_every_feature() -> None:
    """The per-distinct-value column pass gives check_feature's value and reason for every raw value."""
    from leadscore.lakehouse.validate import check_column
    from leadscore_core.validation import CheckedRecord, check_feature

    raw = [
        None,
        "",
        "  ",
        "null",
        "N/A",
        "nan",
        "unknown",
        "999",
        "3",
        " 3 ",
        "3.5",
        "-1",
        "1e9",
        "inf",
        "1_000",
        "abc",
        "true",
        "No",
        "Y",
        "website",
        " website ",
        "Website",
        "trading",
        "<10k",
        "2-5",
        "AE",
        "x" * 60,
    ]
    for spec_name in ("crm_freezone", "bank_marketing"):
        spec = load_spec(spec_name)
        for f in spec.crm_features:
            values, reasons = check_column(f, pd.Series(raw * 3, dtype=object))
            assert len(values) == len(reasons) == len(raw) * 3
            for i, r in enumerate(raw * 3):
                rec = CheckedRecord(values={})
                check_feature(f, r, rec)
                assert values[i] == rec.values[f.name], (f.name, r)
                want = "; ".join(x.reason for x in rec.issues) or None
                assert reasons[i] == want, (f.name, r, reasons[i], want)
