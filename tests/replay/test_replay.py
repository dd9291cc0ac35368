"""``leadscore monitor replay`` end to end (root env): real generator, real consumers, real serving.

The reference model is a small real artifact trained on generated data (``build_artifact.py``), so the
test does not depend on a registry champion. Undrifted traffic (another seed) goes through the
in-process logger path; drifted traffic (``--drift source_mix``) goes through the real local serving
path (``leadscore serve``: MLServer predictor + kserve transformer) when the serving envs exist.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from build_artifact import build

ROOT = Path(__file__).resolve().parents[2]
LEADSCORE = ROOT / ".venv" / "bin" / "leadscore"


pytestmark = pytest.mark.slow
SERVING_ENVS = all(
    (ROOT / "model_server" / p / ".venv" / "bin" / "python").exists() for p in ("predictor", "transformer")
)


def leadscore(*args: str, env: dict[str, str], timeout: float = 1200) -> str:
    proc = subprocess.run([str(LEADSCORE), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"leadscore {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    t = tmp_path_factory.mktemp("replay")
    env = {**os.environ, "LEADSCORE_HOME": str(t / "home"), "LEADSCORE_PII_SALT": "replay-test-salt"}
    leadscore("data", "generate", "--rows", "2500", "--seed", "7", "--out", str(t / "ref"), env=env)
    leadscore("data", "generate", "--rows", "700", "--seed", "8", "--out", str(t / "calm"), env=env)
    leadscore(
        "data",
        "generate",
        "--rows",
        "700",
        "--seed",
        "9",
        "--drift",
        "source_mix",  # the generator's default strength (0.5), as `make up` replays it
        "--out",
        str(t / "drifted"),
        env=env,
    )
    model = build(t / "ref", t / "model")
    return {"t": t, "env": env, "model": model}


def replay(world: dict[str, object], src: str, *extra: str) -> dict:
    t, env = world["t"], world["env"]
    assert isinstance(t, Path) and isinstance(env, dict)
    out = leadscore(
        "monitor", "replay", "--from", str(t / src), "--model-dir", str(world["model"]), "--json", *extra, env=env
    )
    return json.loads(out.strip().splitlines()[-1])


def test_undrifted_replay_raises_no_drift(world: dict[str, object]) -> None:
    r = replay(world, "calm", "--in-process")
    assert r["model_version"] == "1"  # the reference's version, also the drift metrics' label
    assert r["drifted_features"] == []
    assert r["features"]["campaign"]["seasonality"] == "calendar"  # reported, never a retraining trigger
    assert all(f["threshold"] == 0.1 for f in r["features"].values())
    assert r["windows"] and not r["windows"][0]["drifted_features"]
    pairs = r["traffic"]["logged_pairs"]
    assert pairs > 600
    assert r["events"] == {"received": 2 * pairs, "recorded": 2 * pairs, "duplicated": 0, "rejected": 0}
    assert r["inference_log"]["rows_written"] == pairs


def test_drifted_replay_names_the_source_feature(world: dict[str, object]) -> None:
    t, env = world["t"], world["env"]
    assert isinstance(t, Path) and isinstance(env, dict)
    if not SERVING_ENVS:
        r = replay(world, "drifted", "--in-process")
    else:
        port = "18731"
        leadscore("serve", "--model-dir", str(world["model"]), "--port", port, "--detach", env=env, timeout=600)
        try:
            r = replay(world, "drifted", "--serve-url", f"http://127.0.0.1:{port}")
        finally:
            subprocess.run([str(LEADSCORE), "serve", "--stop"], env=env, capture_output=True, timeout=120)
        assert r["serving"] == f"http://127.0.0.1:{port}"
    # every lead reached the model: the serving rate limit (100/s per client) throttles the replay, which
    # waits Retry-After like a well-behaved CRM client instead of dropping the lead
    assert r["traffic"]["serving_errors"] == 0
    assert r["traffic"]["logged_pairs"] + r["traffic"]["invalid"] == r["traffic"]["sent"] == 700
    assert "lead_source" in r["drifted_features"]
    assert set(r["drifted_features"]) <= {"lead_source", "channel"}  # channel follows source in the generator
    assert r["features"]["lead_source"]["psi"] >= r["features"]["lead_source"]["threshold"]
    assert r["features"]["lead_source"]["p_adjusted"] < 1e-6
    assert len(r["windows"]) == 1  # within one window
    pairs = r["traffic"]["logged_pairs"]
    assert r["events"]["recorded"] == 2 * pairs and r["events"]["rejected"] == 0
    # what SREs look at after the consumers stopped: their last /metrics and a PSI chart
    drift_metrics = Path(r["artifacts"]["drift_metrics"]).read_text()
    psi_line = next(
        x
        for x in drift_metrics.splitlines()
        if x.startswith("leadscore_drift_feature_psi{") and 'feature="lead_source"' in x
    )
    assert 'model_version="1"' in psi_line
    assert float(psi_line.rsplit(" ", 1)[1]) == pytest.approx(r["features"]["lead_source"]["psi"], abs=1e-5)
    assert "leadscore_monitor_events_total" in Path(r["artifacts"]["sink_metrics"]).read_text()
    assert Path(r["artifacts"]["psi_chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
