"""`leadscore workflows run-local`: the rendered DAG run here, step by step, on a tiny gold table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from training.testkit import make_gold, write_gold

LEADSCORE = str(Path(sys.executable).parent / "leadscore")
FAST = {
    "TRAINING_CV_FOLDS": "2",
    "TRAINING_MAX_ROUNDS": "60",
    "TRAINING_EARLY_STOPPING_ROUNDS": "10",
    "TRAINING_N_JOBS": "1",
    "TRAINING_REFERENCE_SAMPLE_SIZE": "300",
    "TRAINING_PLOTS": "false",
}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADSCORE, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, **FAST, "LEADSCORE_HOME": str(tmp_path / "home")}


def test_run_local_retraining_registers_then_starts_shadow(tmp_path: Path, local_env: dict[str, str]) -> None:
    frame, truth = make_gold(1200, seed=21)
    version = write_gold(tmp_path / "lake", frame, truth)
    common = ["-p", f"lake={tmp_path / 'lake'}", "-p", f"gold_version={version}", "-p", "trials=2", "--json"]
    first = _run(["workflows", "run-local", "training", *common], local_env)
    assert first.returncode == 0, first.stderr[-3000:]
    out = json.loads(first.stdout.strip().splitlines()[-1])
    assert out["outputs"]["model_version"] == "1" and out["outputs"]["gate_decision"] == "bootstrap"
    steps = [(e["step"], e["status"]) for e in out["timeline"]]
    assert steps == [
        ("pipeline", "Skipped"),
        ("train", "Running"),
        ("train", "Succeeded"),
        ("exit-handler", "Running"),
        ("exit-handler", "Succeeded"),
    ]
    # a retrain that passes the gate: registered in staging, then its shadow stage starts
    env = {**local_env, "TRAINING_MIN_AUC_GAIN": "0"}
    second = _run(
        ["workflows", "run-local", "retraining", *common, "-p", "reason=drift", "-p", "evidence=lead_source PSI 0.91"],
        env,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    out = json.loads(second.stdout.strip().splitlines()[-1])
    assert out["outputs"]["model_version"] == "2" and out["outputs"]["gate_decision"] == "promoted"
    assert ("shadow", "Succeeded") in [(e["step"], e["status"]) for e in out["timeline"]]
    listing = json.loads(_run(["registry", "list", "--json"], env).stdout)
    stages = {v["version"]: v["lifecycle"] for v in listing["versions"]}
    assert stages == {1: "production", 2: "shadow"}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'home' / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(out["outputs"]["run_id"])
    assert run.data.tags["retrain_reason"] == "drift"
    assert run.data.tags["retrain_evidence"] == "lead_source PSI 0.91"
    _make_up_prints_the_timeline(tmp_path, second.stdout, listing)


def _make_up_prints_the_timeline(tmp_path: Path, run_json: str, listing: dict) -> None:
    """`make up` step 6 prints drift -> the retraining steps -> the new version's stage from these outputs."""
    report = tmp_path / "replay-1.json"
    report.write_text(json.dumps({"drifted_features": ["lead_source"], "features": {"lead_source": {"psi": 0.91}}}))
    run = tmp_path / "retraining-local.json"
    run.write_text(run_json)
    script = Path(__file__).parents[2] / "scripts" / "local" / "timeline.py"
    shown = subprocess.run(
        [sys.executable, str(script), "show", str(report), str(run), json.dumps(listing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = shown.splitlines()
    assert lines[1].split(None, 1)[1] == "drift     lead_source PSI 0.910 (replay-1.json)"
    steps = [m.groups() for m in re.finditer(r"retraining/([\w-]+): (\w+)", shown)]
    assert steps == [
        ("pipeline", "Skipped"),
        ("train", "Succeeded"),
        ("shadow", "Succeeded"),
        ("exit-handler", "Succeeded"),
    ]
    assert lines[-1].split()[:7] == ["result", "v2:", "gate", "promoted,", "now", "in", "shadow"]


def test_a_failed_step_stops_the_run_and_is_named(tmp_path: Path, local_env: dict[str, str]) -> None:
    res = _run(
        ["workflows", "run-local", "training", "-p", f"lake={tmp_path / 'no-lake'}", "-p", "gold_version=0"],
        local_env,
    )
    assert res.returncode == 1
    assert "step 'train' failed (exit code 2)" in res.stderr
    assert "training/exit-handler: Succeeded" in res.stderr  # the exit handler still ran
    assert not (tmp_path / "home" / "mlflow" / "mlflow.db").exists() or "registered" not in res.stderr
