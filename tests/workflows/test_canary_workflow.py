"""workflows/canary.py: the committed YAML is what the module renders (golden), and each step's CLI call parses.

CRD validation of workflows/*.yaml is in tests/manifests (every workflow YAML is a render unit)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import build_app
from workflows import canary

ROOT = Path(__file__).resolve().parents[2]


def test_committed_yaml_is_the_rendered_module() -> None:
    committed = (ROOT / "workflows" / "canary.yaml").read_text()
    assert canary.build().to_yaml() == committed, (
        "regenerate: .venv/bin/python -m workflows.canary > workflows/canary.yaml"
    )


def test_the_rollout_suspends_for_approval_before_production() -> None:
    doc = yaml.safe_load((ROOT / "workflows" / "canary.yaml").read_text())
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    order = [group[0]["template"] for group in templates["rollout"]["steps"]]
    assert order == ["analyze-10-50", "approve-production", "analyze-100-promote-watch"]
    assert templates["approve-production"]["suspend"] == {}
    assert "--promote" not in templates["analyze-10-50"]["container"]["args"]
    assert "--promote" in templates["analyze-100-promote-watch"]["container"]["args"]
    assert doc["spec"]["serviceAccountName"] == "leadscore-canary"


@pytest.mark.parametrize(("steps", "promote"), [("10,50", False), ("100", True)])
def test_each_step_is_a_valid_cli_call(steps: str, promote: bool, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = {"model-version": "2", "bake": "10=1d,50=2d,100=1h", "interval": "1h", "watch": "48h"}
    args = [a.replace("--metrics-port=9108", "--metrics-port=0") for a in canary.analyze_args(steps, promote)]
    for key, value in params.items():
        args = [a.replace(f"{{{{workflow.parameters.{key}}}}}", value) for a in args]
    res = CliRunner().invoke(build_app(), args)
    # past argument parsing (a usage error exits 2): it fails on the empty registry, as it should here
    assert res.exit_code == 3, res.output
    assert "no champion" in res.output
