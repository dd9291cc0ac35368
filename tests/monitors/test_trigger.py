"""The retraining trigger: an event storm means one retrain; the cooldown survives a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from leadscore_core.events import DRIFT_TYPE, RETRAIN_TYPE, DriftEvent, RetrainRequest
from leadscore_monitors.cloudevent import reply_event


def drift_event(i: int) -> tuple[dict[str, str], bytes]:
    now = datetime.now(UTC)
    body = DriftEvent(
        model_name="lead-scoring",
        model_version="1",
        window_start=now,
        window_end=now,
        n_events=500,
        drifted_features=["lead_source"],
        psi={"lead_source": 0.9},
        threshold=0.25,
    )
    return reply_event(DRIFT_TYPE, f"drift-{i}", "/drift", body.model_dump(mode="json"))


def test_event_storm_means_one_retrain(server, tmp_path: Path) -> None:
    marker = tmp_path / "retrained"
    env = {
        "MONITOR_STATE_DIR": str(tmp_path / "trig"),
        "MONITOR_COOLDOWN_SECONDS": "3600",
        "MONITOR_COMMAND": f"touch {marker}",
    }
    trig = server("trigger", **env)
    with httpx.Client(timeout=30) as client:
        for i in range(20):
            h, b = drift_event(i)
            assert client.post(trig.url, headers=h, content=b).status_code == 200
        h, b = drift_event(3)
        assert client.post(trig.url, headers=h, content=b).status_code == 202  # redelivery: duplicate
        trig.kill()
        trig = server("trigger", **env)
        business = RetrainRequest(reason="business", detail="conversion -15%", requested_at=datetime.now(UTC))
        h, b = reply_event(RETRAIN_TYPE, "biz-1", "/outcome", business.model_dump(mode="json"))
        assert client.post(trig.url, headers=h, content=b).status_code == 200
        h, b = reply_event(RETRAIN_TYPE, "biz-2", "/outcome", {"reason": "nonsense"})
        bad = client.post(trig.url, headers=h, content=b)
        assert bad.status_code == 422 and "schema" in bad.json()["reason"]
    for _ in range(50):
        if marker.exists():
            break
        time.sleep(0.1)
    stats = trig.stats()
    assert stats["accepted"] == 1 and stats["suppressed"] == 20
    assert marker.exists()
    assert stats["counters"] == {"received": 23, "recorded": 21, "duplicated": 1, "rejected": 1}
