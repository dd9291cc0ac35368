"""Faults injected into the real serving processes: a predictor that hangs, answers late or is gone, a
model that fails to load or was tampered with. Bounded latency, the right status and body, readiness and
metrics that tell the truth, JSON log lines with no success after a failure."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadscore.local.serve import (
    Proc,
    ServerFailed,
    free_port,
    start_predictor,
    start_transformer,
    stop_group,
    wait_ready,
)
from leadscore_core.testkit import sample_lead

JSON_CT = {"content-type": "application/json"}


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a server log, parsed: each must be a JSON object with a timestamp and a level."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        doc = json.loads(line)
        assert {"ts", "level", "message"} <= set(doc), line
        out.append(doc)
    return out


def gauge(base: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith(name))
    return float(line.rsplit(" ", 1)[1])


def until(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if check():
            return time.monotonic() - t
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v2/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def score(base: str, lead: dict[str, Any]) -> tuple[httpx.Response, float]:
    t = time.monotonic()
    r = httpx.post(f"{base}/score-lead", json=lead, timeout=30)
    return r, time.monotonic() - t


# -- the predictor: failed and tampered loads ------------------------------------------------------
def _flip_leaves(booster_json: Path) -> None:
    doc = json.loads(booster_json.read_text())
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        for i, left in enumerate(tree["left_children"]):
            if left == -1:
                tree["split_conditions"][i] = -tree["split_conditions"][i]
    booster_json.write_text(json.dumps(doc))


def _broken(tmp_path: Path, artifact: Path, how: str) -> Path:
    from leadscore_core.artifact import BOOSTER, MANIFEST, Manifest, sha256_file, write_manifest

    path = tmp_path / how
    if how == "unparsable":
        path.mkdir()
        (path / MANIFEST).write_text("{not json")
        return path
    shutil.copytree(artifact, path)
    if how == "changed-file":
        with (path / BOOSTER).open("a") as f:
            f.write(" ")
    else:  # sign-flipped leaves, digest recomputed: only the probe rows can tell
        _flip_leaves(path / BOOSTER)
        manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
        manifest.files[BOOSTER] = sha256_file(path / BOOSTER)
        write_manifest(path, manifest)
    return path


@pytest.mark.parametrize(
    ("how", "reason"),
    [("unparsable", "ValidationError"), ("changed-file", "has sha256"), ("sign-flipped", "probe rows")],
)
def test_a_failed_load_exits_at_once_with_its_error_and_no_success_line(
    artifact: Path, tmp_path: Path, how: str, reason: str
) -> None:
    proc = start_predictor(_broken(tmp_path, artifact, how), free_port(), tmp_path / "predictor.log")
    try:
        t = time.monotonic()
        with pytest.raises(ServerFailed, match="NOT loaded") as exc:
            wait_ready(proc, timeout=120)
        assert time.monotonic() - t < 60 and proc.popen.returncode == 1
        assert reason in str(exc.value)
        lines = log_lines(proc.log)
        errors = [x for x in lines if x["level"] == "ERROR" and "NOT loaded" in x["message"]]
        assert len(errors) == 1 and reason in errors[0]["message"]
        assert not any("Loaded model" in x["message"] for x in lines)
        assert all(datetime.fromisoformat(x["ts"].replace("Z", "+00:00")) for x in lines)
    finally:
        stop_group(proc.pid)


def test_predictor_ready_gauge_and_415(predictor: tuple[str, Proc]) -> None:
    base = predictor[0]
    assert gauge(base, 'leadscore_ready{component="predictor"}') == 1
    r = httpx.post(f"{base}/score-lead", content=json.dumps(sample_lead()), headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["issues"][0]["field"] == "content-type"
    assert httpx.post(f"{base}/score-lead", json=sample_lead()).status_code == 200


# -- the transformer in front of a predictor that misbehaves --------------------------------------
@pytest.fixture
def proxied(
    predictor: tuple[str, Proc], tmp_path: Path, fault_server: Callable[..., Any]
) -> Iterator[tuple[str, Proc, Any]]:
    """A transformer whose predictor hop goes through a fault proxy (1.5 s timeout, 0.3 s health probe)."""
    pport = int(predictor[0].rsplit(":", 1)[1])
    proxy = fault_server("slow", upstream=("127.0.0.1", pport), delay=0.0)
    env = {
        "TRANSFORMER_RATE_LIMIT": "",
        "TRANSFORMER_PREDICTOR_TIMEOUT_SECONDS": "1.5",
        "TRANSFORMER_HEALTH_INTERVAL_SECONDS": "0.3",
        "TRANSFORMER_HEALTH_TIMEOUT_SECONDS": "0.5",
        "TRANSFORMER_HEALTH_FAILURES": "2",
    }
    proc = start_transformer(proxy.port, free_port(), tmp_path / "transformer.log", extra_env=env)
    try:
        wait_ready(proc)
        yield proc.ready_url.split("/v2/", 1)[0], proc, proxy
    finally:
        stop_group(proc.pid)


def test_transformer_faults_bounded_truthful_and_recovering(proxied: tuple[str, Proc, Any]) -> None:
    base, proc, proxy = proxied
    lead = sample_lead()
    assert gauge(base, 'leadscore_ready{component="transformer"}') == 1
    proxy.delay = 0.3  # slow, within the 1.5 s timeout: answered
    r, took = score(base, lead)
    assert r.status_code == 200 and 0.3 <= took < 1.5
    proxy.delay = 2.5  # slower than the timeout: a 503 after about the timeout, not after the answer
    r, took = score(base, lead)
    assert r.status_code == 503 and 1.4 <= took < 2.4, took
    assert r.headers["retry-after"] == "1"
    assert "127.0.0.1" not in r.text and str(proxy.port) not in r.text  # no internal address for clients
    proxy.delay, proxy.mode = 0.0, "blackhole"  # accepts, never answers
    r, took = score(base, lead)
    assert r.status_code == 503 and took < 2.4
    until(lambda: not ready(base), 5)
    assert gauge(base, 'leadscore_ready{component="transformer"}') == 0
    assert httpx.get(f"{base}/v2/models/lead-scoring/ready", timeout=2).status_code != 200
    proxy.mode = "slow"  # the predictor is back
    until(lambda: ready(base), 5)
    assert gauge(base, 'leadscore_ready{component="transformer"}') == 1
    assert score(base, lead)[0].status_code == 200
    proxy.close()  # closed port: refused at once
    r, took = score(base, lead)
    assert r.status_code == 503 and took < 1.0
    until(lambda: not ready(base), 5)
    text = httpx.get(f"{base}/metrics", timeout=5).text
    served_503 = [
        float(x.rsplit(" ", 1)[1])
        for x in text.splitlines()
        if x.startswith("leadscore_requests_total{") and 'revision="default"' in x and 'status="503"' in x
    ]
    assert sum(served_503) == 3.0, served_503  # whatever model_version the refusals were counted under
    lines = log_lines(proc.log)
    timeouts = [x["message"] for x in lines if "TimeoutError" in x["message"]]
    assert timeouts and all("within 1.5s" in m for m in timeouts)  # a timeout's reason is not empty
    assert any("NOT ready" in x["message"] and x["level"] == "WARNING" for x in lines)
    # three failed requests, one WARNING line each 10 s at most
    assert len([x for x in lines if "predictor unavailable" in x["message"]]) <= 2


def test_transformer_load_timeout_is_honoured(tmp_path: Path, fault_server: Callable[..., Any]) -> None:
    """No contract from a blackholed predictor: the 3 s load timeout ends the start after ~3 s, not 2x."""
    hole = fault_server("blackhole")
    env = {"TRANSFORMER_LOAD_TIMEOUT_SECONDS": "3"}
    proc = start_transformer(hole.port, free_port(), tmp_path / "transformer.log", extra_env=env)
    try:
        with pytest.raises(ServerFailed, match="no feature contract"):
            wait_ready(proc, timeout=120)
        lines = log_lines(proc.log)
        start = next(x for x in lines if "waiting up to 3.0s" in x["message"])
        end = next(x for x in lines if "gave no feature contract within 3.0s" in x["message"])
        took = (datetime.fromisoformat(end["ts"][:-1]) - datetime.fromisoformat(start["ts"][:-1])).total_seconds()
        assert 2.9 <= took < 4.0, took
    finally:
        stop_group(proc.pid)
