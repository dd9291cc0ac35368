"""`leadscore serve --detach` / `--stop`: real processes, pid files, the printed sample request works."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.local.serve import free_port, proc_start_time, stop_group


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


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_foreground_serve_stops_its_servers_on_a_signal(artifact: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """No orphan: after SIGTERM (or Ctrl-C) the predictor and transformer are gone, the state file too."""
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "LEADSCORE_HOME": str(home)}
    cli = Path(sys.executable).parent / "leadscore"
    cmd = [str(cli), "serve", "--model-dir", str(artifact), "--port", str(port), "--design", "merged"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    state = home / "run" / "serve.json"
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not state.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.3)
        servers = json.loads(state.read_text())["servers"]
        pids = [s["pid"] for s in servers.values()]
        assert servers["predictor"]["port"] == port and servers["predictor"]["start_time"] > 0
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert all(not _alive(pid) for pid in pids), out
        assert not state.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            if _alive(pid):
                stop_group(pid)


def test_serve_fails_fast_with_the_servers_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"format_version": 2}')
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    t = time.monotonic()
    res = CliRunner().invoke(build_app(), ["serve", "--model-dir", str(broken), "--port", str(free_port())])
    assert res.exit_code == 1 and time.monotonic() - t < 90
    assert "predictor exited with code 1" in res.output and "NOT loaded" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "home" / "run" / "serve.json").exists()


def test_stop_touches_only_its_own_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded pid now used by another process (other start time) is not signalled; a dead one is reported."""
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    run = tmp_path / "home" / "run"
    run.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        start = proc_start_time(stranger.pid)
        assert start is not None
        servers = {
            "predictor": {"pid": stranger.pid, "port": 1, "start_time": start + 1},  # the pid was reused
            "transformer": {"pid": dead.pid, "port": 2, "start_time": 5},
        }
        (run / "serve.json").write_text(json.dumps({"servers": servers, "port": 2}))
        res = CliRunner().invoke(build_app(), ["serve", "--stop"])
        assert res.exit_code == 0
        assert f"pid {stranger.pid} now belongs to another process, not touched" in res.output
        assert f"transformer (pid {dead.pid}) had already exited" in res.output
        assert stranger.poll() is None  # still running
        assert not (run / "serve.json").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_status_reports_a_crashed_detached_server(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    port = free_port()
    runner = CliRunner()
    res = runner.invoke(
        build_app(), ["serve", "--model-dir", str(artifact), "--port", str(port), "--design", "merged", "--detach"]
    )
    try:
        assert res.exit_code == 0 and "NOT supervised" in res.output
        pid = json.loads((tmp_path / "home" / "run" / "serve.json").read_text())["servers"]["predictor"]["pid"]
        assert "predictor: pid" in runner.invoke(build_app(), ["serve", "--status"]).output
        os.killpg(pid, signal.SIGKILL)  # the server crashes: nobody restarts it, and status says so
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "NOT running" in runner.invoke(build_app(), ["serve", "--status"]).output
    finally:
        runner.invoke(build_app(), ["serve", "--stop"])
