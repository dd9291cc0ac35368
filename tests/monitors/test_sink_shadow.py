"""The inference-log sink (real Delta table) and the shadow scorer, as real HTTP servers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from deltalake import DeltaTable

from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE
from leadscore_monitors.testkit.events import post_event, scored_pairs
from leadscore_monitors.testkit.synth import make_records


def test_sink_joins_by_ce_id_into_delta_without_pii(server, artifact: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "lake" / "bronze" / "inference_log")
    env = {"MONITOR_STATE_DIR": str(tmp_path / "sink"), "MONITOR_TABLE_URI": uri, "MONITOR_FLUSH_ROWS": "40"}
    sink = server("sink", **env)
    pairs = scored_pairs(artifact, make_records(60, 31), batch=2)  # 30 calls of 2 leads
    crm_req = {
        "lead_id": "L-1",
        "full_name": "Jane Doe",
        "email": "jane@example.com",
        "phone": "+971500000000",
        **make_records(1, 32)[0],
    }
    crm_resp = {
        "lead_id": "L-1",
        "score": 42,
        "probability": 0.42,
        "tier": "B",
        "model_name": "lead-scoring",
        "model_version": "1",
        "reasons": [{"feature": "web_visits", "contribution": 0.3}],
    }
    with httpx.Client(timeout=60) as client:
        for ce_id, req, resp in pairs[:20]:
            assert post_event(client, sink.url, RESPONSE_TYPE, ce_id, resp).status_code == 200  # any order
            assert post_event(client, sink.url, REQUEST_TYPE, ce_id, req).status_code == 200
        sink.kill()  # 40 rows flushed, nothing staged lost
        sink = server("sink", **env)
        for ce_id, req, resp in pairs[15:]:  # redelivery of 5 calls
            post_event(client, sink.url, REQUEST_TYPE, ce_id, req)
            post_event(client, sink.url, RESPONSE_TYPE, ce_id, resp)
        assert post_event(client, sink.url, REQUEST_TYPE, "crm-1", crm_req).status_code == 200
        assert post_event(client, sink.url, RESPONSE_TYPE, "crm-1", crm_resp, endpoint="canary").status_code == 200
    sink.flush()
    stats = sink.stats()
    assert stats["counters"] == {"received": 72, "recorded": 62, "duplicated": 10, "rejected": 0}
    table = DeltaTable(uri).to_pyarrow_table()
    assert table.num_rows == 61 and stats["rows_written"] == 61
    assert len(DeltaTable(uri).history()) >= 2
    keys = set(zip(table["event_id"].to_pylist(), table["row"].to_pylist(), strict=True))
    assert len(keys) == 61  # no row twice despite the crash and the redeliveries
    text = json.dumps(table.to_pylist(), default=str)
    for pii in ("Jane", "jane@example.com", "+971500000000", "L-1"):
        assert pii not in text
    rows = table.to_pylist()
    assert all(r["probability"] is not None and r["lead_key"] for r in rows)
    assert {r["model_version"] for r in rows} == {"1"}
    crm = next(r for r in rows if r["event_id"] == "crm-1")
    assert crm["tier"] == "B" and crm["score"] == 42 and json.loads(crm["reasons"])[0]["feature"] == "web_visits"
    v2 = next(r for r in rows if r["event_id"] == pairs[0][0])
    assert len(json.loads(v2["reasons"])) == 3 and v2["lead_source"] is not None


def test_shadow_agreement_metrics_appear(server, artifact: Path, shadow_artifact: Path, tmp_path: Path) -> None:
    shadow = server(
        "shadow",
        MONITOR_SHADOW_MODEL_DIR=str(shadow_artifact),
        MONITOR_STATE_DIR=str(tmp_path / "sh"),
        MONITOR_WINDOW_SIZE="100",
    )
    with httpx.Client(timeout=60) as client:
        for ce_id, req, resp in scored_pairs(artifact, make_records(200, 33), batch=4):
            assert post_event(client, shadow.url, REQUEST_TYPE, ce_id, req).status_code == 200
            assert post_event(client, shadow.url, RESPONSE_TYPE, ce_id, resp).status_code == 200
    stats = shadow.stats()
    assert stats["pairs"] == 200 and len(stats["windows"]) == 2
    w = stats["windows"][0]
    assert w["n"] == 100 and 0.3 < w["spearman"] <= 1.0 and 0.0 <= w["top_decile_overlap"] <= 1.0
    assert 0 < w["mean_abs_diff"] < 0.5
    assert sum(sum(v.values()) for v in w["confusion"].values()) == 100
    metrics = shadow.metrics()
    for name in (
        "leadscore_shadow_spearman",
        "leadscore_shadow_top_decile_overlap",
        "leadscore_shadow_mean_abs_diff",
        "leadscore_shadow_tier_agreement",
        "leadscore_shadow_score_abs_diff_bucket",
        "leadscore_shadow_tier_pairs_total",
    ):
        assert f"{name}{{" in metrics and 'shadow_version="2"' in metrics, name
