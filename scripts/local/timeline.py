#!/usr/bin/env python3
"""`make up` step 6 helper (stdlib only): drift evidence from a replay report, and the printed timeline.

timeline.py evidence REPORT            print "f1 PSI x, f2 PSI y" (exit 1 when nothing drifted)
timeline.py show REPORT RUN_JSON REGISTRY_JSON   drift -> retraining steps -> the new version's stage
timeline.py candidate RUN_JSON         print the retrained version the gate promoted (exit 1: none)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

MEANING = {
    "development": "the gate kept it: it did not beat the champion",
    "staging": "it passed the gate",
    "shadow": "it passed the gate; its shadow stage started",
    "production": "it serves",
    "archived": "retired",
}
"""What each lifecycle stage says about the retrained version, printed after it."""


def evidence(report: dict) -> str:
    drifted = report.get("drifted_features") or []
    features = report.get("features") or {}
    parts = [f"{f} PSI {features.get(f, {}).get('psi', float('nan')):.3f}" for f in drifted]
    if report.get("score_psi") is not None:
        parts.append(f"score PSI {report['score_psi']:.3f}")
    return ", ".join(parts)


def show(report_path: Path, run_path: Path, registry: dict) -> None:
    report = json.loads(report_path.read_text())
    at = datetime.fromtimestamp(report_path.stat().st_mtime, UTC).strftime("%H:%M:%S")
    print("    timeline:")
    print(f"      {at}  drift     {evidence(report) or 'none'} ({report_path.name})")
    try:
        run = json.loads(run_path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        print("      retraining did not finish: see the step named above")
        return
    for event in run["timeline"]:
        if event["status"] in ("Running",):
            continue
        extra = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("at", "step", "status"))
        print(f"      +{event['at']:6.1f}s  retraining/{event['step']}: {event['status']} {extra}".rstrip())
    version = run["outputs"].get("model_version")
    stages = {str(v["version"]): v["lifecycle"] for v in registry.get("versions", [])}
    gate, stage = run["outputs"].get("gate_decision"), stages.get(str(version), "?")
    print(f"      result    v{version}: gate {gate}, now in {stage} ({MEANING.get(stage, 'see the registry')})")


def candidate(run_path: Path) -> str | None:
    """The version the retraining registered and the gate promoted (then started in shadow), else None."""
    try:
        outputs = json.loads(run_path.read_text().strip().splitlines()[-1])["outputs"]
    except (OSError, ValueError, IndexError, KeyError):
        return None
    version = outputs.get("model_version")
    return str(version) if version and outputs.get("gate_decision") == "promoted" else None


def main(argv: list[str]) -> int:
    if argv[0] == "candidate":
        version = candidate(Path(argv[1]))
        if version is None:
            return 1
        print(version)
        return 0
    if argv[0] == "evidence":
        text = evidence(json.loads(Path(argv[1]).read_text()))
        if not text:
            return 1
        print(text)
        return 0
    show(Path(argv[1]), Path(argv[2]), json.loads(argv[3] or "{}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
