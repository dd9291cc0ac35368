"""`leadscore serve --detach` / `--stop`: real processes, pid files, the printed sample request works."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.local.serve import free_port


@pytest.mark.parametrize(
    ("design", "processes"), [([], {"predictor"}), (["--design", "transformer"], {"predictor", "transformer"})]
)
def test_serve_detach_score_and_stop(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, design: list[str], processes: set[str]
) -> None:
    """The default is the deployed one-process design; the transformer hop stays available."""
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    port = free_port()
    runner = CliRunner()
    args = ["serve", "--model-dir", str(artifact), "--port", str(port), "--detach", *design]
    try:
        res = runner.invoke(build_app(), args)
        assert res.exit_code == 0, res.output
        curl = re.search(r"curl -s -H 'Content-Type: application/json' (\S+) -d @(\S+)", res.output)
        assert curl, res.output
        url, sample = curl.group(1), Path(curl.group(2))
        assert url == f"http://127.0.0.1:{port}/score-lead"
        body = httpx.post(url, content=sample.read_bytes(), headers={"content-type": "application/json"}).json()
        assert body["lead_id"] == "lead-0001" and body["model_version"] == "7"
        state = json.loads((tmp_path / "home" / "run" / "serve.json").read_text())
        pids = state["pids"]
        assert set(pids) == processes
        assert "leadscore_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        again = runner.invoke(build_app(), args)
        assert again.exit_code == 1  # refuses to start twice
    finally:
        res = runner.invoke(build_app(), ["serve", "--stop"])
    assert res.exit_code == 0 and "stopped" in res.output
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (tmp_path / "home" / "run" / "serve.json").exists()
