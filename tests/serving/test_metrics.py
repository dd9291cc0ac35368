"""/metrics beside /score-lead: requests by status, stage latencies, scores, tiers, model info, data quality."""

from __future__ import annotations

import re

import httpx

from leadscore_core.testkit import sample_lead


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_what_happened(crm_url: str) -> None:
    before = httpx.get(f"{crm_url}/metrics").text
    lead = sample_lead(lead_id="L-m")
    lead["pages_per_visit"] = None  # unknown (an absent key would be a 422)
    lead["channel"] = "carrier_pigeon"  # unknown category, policy: other
    r = httpx.post(f"{crm_url}/score-lead", json=[lead, sample_lead(lead_id="L-n")])
    assert r.status_code == 200, r.text
    assert "pages_per_visit" in r.json()[0]["imputed"] and r.json()[0]["unknown_categories"] == ["channel"]
    assert httpx.post(f"{crm_url}/score-lead", content=b"{oops").status_code == 400
    text = httpx.get(f"{crm_url}/metrics").text

    def delta(name: str, **labels: str) -> float:
        return _value(text, name, **labels) - _value(before, name, **labels)

    assert delta("leadscore_requests_total", revision="default", model_version="7", status="200") == 1
    assert delta("leadscore_requests_total", model_version="7", status="400") == 1  # refused: the loaded version
    assert delta("leadscore_leads_scored_total") == 2
    assert delta("leadscore_score_count", model_version="7") == 2
    assert delta("leadscore_request_duration_seconds_count", model_version="7", status="200") == 1
    assert sum(delta("leadscore_tier_total", tier=t) for t in "ABCD") == 2
    assert delta("leadscore_feature_missing_total", feature="pages_per_visit") == 1
    assert delta("leadscore_feature_unknown_category_total", feature="channel") == 1
    for stage in ("admit", "validate", "encode", "predict", "respond"):
        assert delta("leadscore_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert re.search(r'leadscore_model_info\{[^}]*model_version="7"[^}]*\} 1\.0', text)
    assert "# TYPE leadscore_request_duration_seconds histogram" in text
