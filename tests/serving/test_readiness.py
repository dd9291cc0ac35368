"""A model that fails to load keeps the predictor up but not ready, with the reason in its log."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from leadscore.local.serve import free_port, start_predictor, stop_group


def test_failed_load_is_not_ready_and_logged(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    port = free_port()
    proc = start_predictor(broken, port, tmp_path / "predictor.log")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "NOT loaded" in proc.log.read_text(errors="replace"):
                break
            assert proc.popen.poll() is None, proc.log.read_text()
            time.sleep(0.3)
        time.sleep(0.5)
        assert "NOT loaded" in proc.log.read_text()
        assert httpx.get(f"{base}/v2/health/live").status_code == 200
        assert httpx.get(f"{base}/v2/models/lead-scoring/ready").status_code != 200
        r = httpx.post(f"{base}/score-lead", json={"lead_id": "x"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
    finally:
        stop_group(proc.pid)
