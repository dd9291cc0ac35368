"""The drift detector as a real HTTP server: windows, drift events, delivery guarantees, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from leadscore_core.events import DRIFT_TYPE, REQUEST_TYPE, RESPONSE_TYPE, DriftEvent
from leadscore_monitors.cloudevent import logger_event
from leadscore_monitors.testkit.events import post_event, scored_pairs
from leadscore_monitors.testkit.synth import make_records


def send(client: httpx.Client, url: str, pairs: list[tuple[str, dict, dict]], ok: tuple[int, ...] = (200,)) -> None:
    for ce_id, req, resp in pairs:
        assert post_event(client, url, REQUEST_TYPE, ce_id, req).status_code in ok
        assert post_event(client, url, RESPONSE_TYPE, ce_id, resp).status_code in ok


def test_windows_drift_event_and_metrics(server, artifact: Path, tmp_path: Path) -> None:
    sink = server(
        "trigger", MONITOR_STATE_DIR=str(tmp_path / "trig"), MONITOR_COMMAND="true", MONITOR_COOLDOWN_SECONDS="3600"
    )
    drift = server(
        "drift",
        MONITOR_MODEL_DIR=str(artifact),
        MONITOR_STATE_DIR=str(tmp_path / "drift"),
        MONITOR_WINDOW_SIZE="300",
        MONITOR_REPLY_URL=sink.url,
    )
    clean = scored_pairs(artifact, make_records(300, 21), batch=10)
    drifted = scored_pairs(artifact, make_records(300, 22, "source_mix"), batch=10)
    with httpx.Client(timeout=60) as client:
        send(client, drift.url, clean)
        send(client, drift.url, drifted)
    stats = drift.stats()
    assert [w["drifted_features"] for w in stats["windows"]] == [[], ["lead_source"]]
    assert stats["windows"][1]["result"]["features"]["lead_source"]["psi"] > 0.25
    assert stats["counters"] == {"received": 120, "recorded": 120, "duplicated": 0, "rejected": 0}
    metrics = drift.metrics()
    assert 'leadscore_drift_feature_drifted{feature="lead_source",model_version="1"} 1.0' in metrics
    assert 'leadscore_drift_feature_psi{feature="web_visits",model_version="1"}' in metrics
    assert "leadscore_drift_score_psi" in metrics
    # the drift CloudEvent reached the (trigger) subscriber once, with a DriftEvent body
    import time

    for _ in range(50):
        if sink.stats()["counters"]["recorded"] == 1:
            break
        time.sleep(0.2)
    trig = sink.stats()
    assert trig["counters"]["recorded"] == 1 and trig["accepted"] == 1
    assert "lead_source" in trig["decisions"][0]["detail"]


def test_duplicates_and_kill_restart_reconcile(server, artifact: Path, tmp_path: Path) -> None:
    env = {
        "MONITOR_MODEL_DIR": str(artifact),
        "MONITOR_STATE_DIR": str(tmp_path / "drift"),
        "MONITOR_WINDOW_SIZE": "200",
    }
    drift = server("drift", **env)
    pairs = scored_pairs(artifact, make_records(300, 23), batch=5)  # 60 events of 5 leads
    with httpx.Client(timeout=60) as client:
        send(client, drift.url, pairs[:30])
        for ce_id, req, _ in pairs[:10]:  # redeliveries
            assert post_event(client, drift.url, REQUEST_TYPE, ce_id, req).status_code == 202
        drift.kill()  # crash mid-window: 150 leads in the open window, none judged yet
        drift = server("drift", **env)
        assert drift.stats()["open_window_leads"] == 150
        send(client, drift.url, pairs[25:], ok=(200, 202))  # at-least-once: the broker redelivers the last 5 pairs too
    stats = drift.stats()
    assert stats["counters"] == {"received": 140, "recorded": 120, "duplicated": 20, "rejected": 0}
    assert [w["n"] for w in stats["windows"]] == [200]
    assert stats["open_window_leads"] == 100
    drift.flush()
    assert [w["n"] for w in drift.stats()["windows"]] == [200, 100]


def test_bad_events_get_4xx_with_reason_and_are_counted(server, artifact: Path, tmp_path: Path) -> None:
    drift = server("drift", MONITOR_MODEL_DIR=str(artifact), MONITOR_STATE_DIR=str(tmp_path / "drift"))
    ce_id, req, _ = scored_pairs(artifact, make_records(1, 24))[0]
    good_headers, good_body = logger_event(
        REQUEST_TYPE, ce_id, json.dumps(req).encode(), source="s", inferenceservicename="lead-scoring", namespace="ns"
    )
    cases = {
        "malformed": ({"content-type": "application/json"}, b"{nope"),
        "missing_id": ({**good_headers, "ce-id": ""}, good_body),
        "unknown_type": ({**good_headers, "ce-type": DRIFT_TYPE}, good_body),
        "not_json": (good_headers, b"\xff\xfe garbage"),
        "contract": (
            good_headers,
            json.dumps(
                {"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
            ).encode(),
        ),
        "crm_contract": (good_headers, json.dumps({"lead_source": "website", "license_type": "spaceship"}).encode()),
    }
    with httpx.Client(timeout=30) as client:
        for name, (headers, body) in cases.items():
            r = client.post(drift.url, headers=headers, content=body)
            assert 400 <= r.status_code < 500, name
            assert r.json()["reason"], name
        r = client.post(drift.url, headers={**good_headers, "ce-id": "big"}, content=b" " * (5 << 20))
        assert r.status_code == 413
        assert (
            "license_type"
            in client.post(drift.url, headers=cases["crm_contract"][0], content=cases["crm_contract"][1]).json()[
                "reason"
            ]
        )
        assert client.post(drift.url, headers=good_headers, content=good_body).status_code == 200
    stats = drift.stats()
    assert stats["counters"] == {"received": 9, "recorded": 1, "duplicated": 0, "rejected": 8}
    assert stats["rejections"]["contract"] == 3
    assert 'leadscore_monitor_events_rejected_total{component="drift-detector",kind="unknown_type"} 1.0' in (
        drift.metrics()
    )


def test_drift_event_body_is_a_drift_event() -> None:
    DriftEvent.model_validate(
        {
            "model_name": "m",
            "model_version": "1",
            "window_start": "2026-01-01T00:00:00Z",
            "window_end": "2026-01-01T00:01:00Z",
            "n_events": 1,
            "drifted_features": ["a"],
            "psi": {"a": 0.3},
            "threshold": 0.25,
        }
    )


def _shift(pairs: list[tuple[str, dict, dict]], records: list[dict], feature_index: int) -> None:
    """Make the model favour nationality IN (probability 0.99, tier A) and make one feature every lead's top reason."""
    for (_, _, resp), record in zip(pairs, records, strict=True):
        out = {t["name"]: t for t in resp["outputs"]}
        if record["nationality"] == "IN":
            out["probability"]["data"] = [0.99]
            out["tier"]["data"] = ["A"]
        out["contributions"]["data"][feature_index] = 50.0


def test_bias_and_reason_mix_gauges_move_when_shifted(server, artifact: Path, tmp_path: Path) -> None:
    drift = server(
        "drift",
        MONITOR_MODEL_DIR=str(artifact),
        MONITOR_STATE_DIR=str(tmp_path / "drift"),
        MONITOR_WINDOW_SIZE="400",
        LEADSCORE_DRIFT_BIAS_MIN_GROUP="15",
    )
    calm_records, shifted_records = make_records(400, 25), make_records(400, 26)
    calm = scored_pairs(artifact, calm_records)
    shifted = scored_pairs(artifact, shifted_records)
    from leadscore_core.contract import load_spec

    visas = load_spec("crm_freezone").feature_names.index("visas_requested")
    _shift(shifted, shifted_records, visas)

    def gauges(text: str, name: str) -> dict[str, float]:
        out = {}
        for line in text.splitlines():
            if line.startswith(name + "{"):
                labels, value = line.rsplit(" ", 1)
                out[labels[len(name) :]] = float(value)
        return out

    with httpx.Client(timeout=60) as client:
        send(client, drift.url, calm)
        before = drift.metrics()
        send(client, drift.url, shifted)
        after = drift.metrics()
    in_group = '{attribute="nationality",group="IN",model_version="1"}'
    for m in (before, after):
        assert in_group in gauges(m, "leadscore_bias_tier_a_ratio_change")
        assert in_group in gauges(m, "leadscore_bias_group_leads")
    assert 0.3 < gauges(before, "leadscore_bias_tier_a_ratio_change")[in_group] < 3
    assert gauges(after, "leadscore_bias_tier_a_ratio_change")[in_group] > 3
    assert gauges(after, "leadscore_bias_mean_score_gap_change")[in_group] > 0.3
    assert gauges(before, "leadscore_bias_drifted")[in_group] == 0.0
    assert gauges(after, "leadscore_bias_drifted")[in_group] == 1.0
    reason = '{feature="visas_requested",model_version="1"}'
    assert gauges(before, "leadscore_drift_reason_share").get(reason, 0.0) < 0.5
    assert gauges(after, "leadscore_drift_reason_share")[reason] == 1.0
    assert gauges(after, "leadscore_drift_reason_reference_share")[reason] < 0.5
    assert gauges(before, "leadscore_drift_reason_drifted")['{model_version="1"}'] == 0.0
    assert gauges(after, "leadscore_drift_reason_drifted")['{model_version="1"}'] == 1.0
    assert gauges(after, "leadscore_drift_reason_psi")['{model_version="1"}'] > 1.0
    windows = drift.stats()["windows"]
    assert windows[1]["result"]["bias_drift"] == ["nationality=IN"] and windows[1]["result"]["reason_drift"]
    assert windows[1]["is_drift"]  # a different feature drives the scores: the monitor says so
