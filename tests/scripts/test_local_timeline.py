"""`scripts/local/timeline.py show`: `make up` step 6's timeline says what the gate decided, whichever way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local" / "timeline.py"


def show(tmp_path: Path, decision: str, stage: str) -> list[str]:
    report = tmp_path / "replay-1.json"
    report.write_text(json.dumps({"drifted_features": ["channel"], "features": {"channel": {"psi": 0.4}}}))
    run = tmp_path / "retraining-local.json"
    timeline = [
        {"at": 0.0, "step": "pipeline", "status": "Running"},
        {"at": 2.5, "step": "pipeline", "status": "Succeeded"},
        {"at": 30.8, "step": "train", "status": "Succeeded", "model_version": "2", "gate_decision": decision},
    ]
    run.write_text(
        "log line\n" + json.dumps({"timeline": timeline, "outputs": {"model_version": "2", "gate_decision": decision}})
    )
    listing = {"versions": [{"version": 1, "lifecycle": "production"}, {"version": 2, "lifecycle": stage}]}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "show", str(report), str(run), json.dumps(listing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return out.splitlines()


@pytest.mark.parametrize(
    ("decision", "stage", "meaning"),
    [
        ("rejected", "development", "the gate kept it: it did not beat the champion"),
        ("promoted", "shadow", "it passed the gate; its shadow stage started"),
        ("promoted", "staging", "it passed the gate"),
    ],
)
def test_the_result_line_says_what_the_gate_decided(tmp_path: Path, decision: str, stage: str, meaning: str) -> None:
    lines = show(tmp_path, decision, stage)
    assert lines[1].split(None, 1)[1] == "drift     channel PSI 0.400 (replay-1.json)"
    assert [ln.split("retraining/")[1] for ln in lines if "retraining/" in ln] == [
        "pipeline: Succeeded",
        "train: Succeeded model_version=2 gate_decision=" + decision,
    ]  # "Running" events are not shown
    assert lines[-1].strip() == f"result    v2: gate {decision}, now in {stage} ({meaning})"
