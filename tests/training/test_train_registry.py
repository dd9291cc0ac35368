"""Real training runs (tiny Optuna studies, real XGBoost) against a real SQLite-backed MLflow registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.registry.registry import Registry, fetch_artifact
from leadscore_core.artifact import LeadScorer, artifact_version
from training.errors import RegistryError, TrainingError
from training.features import encode_frame
from training.gold import read_gold
from training.testkit import Trained, fast_settings, make_gold, write_gold
from training.train import TrainRequest, train

runner = CliRunner()


def test_first_run_bootstraps_champion_with_full_metrics(trained: Trained) -> None:
    r = trained.first
    assert (r["version"], r["lifecycle"], r["gate"]["decision"]) == (1, "production", "bootstrap")
    for key in ("auc", "pr_auc", "brier", "top_decile_lift", "oracle_auc"):
        assert 0.0 <= r["metrics"][key] <= 10.0
    assert r["metrics"]["auc"] > 0.7 and r["metrics"]["oracle_auc"] > r["metrics"]["auc"] - 0.05
    assert r["gold_version"] == 0 and r["gold_table"].endswith("gold/lead_features")
    run = mlflow.MlflowClient(tracking_uri=trained.home.tracking_uri).get_run(r["run_id"])
    assert run.data.tags["gold_version"] == "0" and len(run.data.tags["lock_hash"]) == 64
    assert run.data.params["gold_table"] == r["gold_table"]
    assert run.data.metrics["holdout_auc"] == pytest.approx(r["metrics"]["auc"])
    client = mlflow.MlflowClient(tracking_uri=trained.home.tracking_uri)
    plots = {Path(a.path).name for a in client.list_artifacts(r["run_id"], "plots")}
    assert plots == {
        "roc.png",
        "pr.png",
        "calibration.png",
        "lift_gain.png",
        "feature_importance.png",
        "shap_summary.png",
    }


def test_second_run_is_kept_in_development_and_says_why(trained: Trained) -> None:
    g = trained.second["gate"]
    assert trained.second["version"] == 2 and trained.second["lifecycle"] == "development"
    assert g["decision"] == "rejected" and g["champion_version"] == 1
    assert "< required +0.0200" in g["reason"] and "gold v0 holdout" in g["reason"]
    mv = mlflow.MlflowClient(tracking_uri=trained.home.tracking_uri).get_model_version("lead-scoring", "2")
    assert mv.tags["lifecycle"] == "development" and mv.tags["gate_reason"] == g["reason"]


def test_artifact_loads_with_leadscorer_and_reasons_sum_to_margin(registry_env: Trained, tmp_path: Path) -> None:
    path = fetch_artifact("champion", tmp_path / "m")
    assert (path / "manifest.json").exists()
    scorer = LeadScorer(path).load()
    assert scorer.manifest is not None
    assert scorer.manifest.provenance["gold_version"] == 0
    assert scorer.manifest.provenance["run_id"] == registry_env.first["run_id"]
    # the registry numbered the version after the artifact was saved: the download says which one it is
    assert artifact_version(path) == str(registry_env.first["version"]) == "1"
    assert list(scorer.manifest.tier_cutoffs) == ["A", "B", "C"]
    data = read_gold(registry_env.lake)
    assert scorer.encoder is not None
    x = encode_frame(scorer.encoder, data.frame.iloc[-200:])
    batch = scorer.score(x, explain=True)
    assert batch.contributions is not None
    np.testing.assert_allclose(batch.base_value + batch.contributions.sum(axis=1), batch.margin, atol=1e-3)
    assert set(batch.tier) <= {"A", "B", "C", "D"} and np.all((batch.probability >= 0) & (batch.probability <= 1))
    assert scorer.manifest.metrics["auc"] == pytest.approx(registry_env.first["metrics"]["auc"])


def test_pyfunc_loads_and_predicts_without_the_training_package(registry_env: Trained, tmp_path: Path) -> None:
    uri = "models:/lead-scoring/1"
    model = mlflow.pyfunc.load_model(uri)
    frame = read_gold(registry_env.lake).frame.iloc[-50:]
    out = model.predict(frame.drop(columns=["label"]))
    assert list(out.columns[:4]) == ["lead_id", "probability", "score", "tier"]
    assert out["probability"].between(0, 1).all() and len(json.loads(out["reasons"].iloc[0])) == 3
    # a fresh interpreter in which `training` cannot be imported still loads and scores the model
    frame.drop(columns=["label"]).head(5).to_pickle(tmp_path / "leads.pkl")
    script = textwrap.dedent(
        f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "training" or name.startswith("training."):
                    raise ImportError("training is not installed here")
        sys.meta_path.insert(0, Block())
        import mlflow, pandas as pd
        mlflow.set_tracking_uri({registry_env.home.tracking_uri!r})
        m = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
        print(m.predict(pd.read_pickle({str(tmp_path / "leads.pkl")!r}))["probability"].round(6).tolist())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probs = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(probs, out["probability"].head(5).round(6), atol=1e-6)


def test_pyfunc_flags_rows_that_break_the_contract(registry_env: Trained) -> None:
    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    frame = read_gold(registry_env.lake).frame.iloc[-3:].drop(columns=["label"]).copy()
    frame["license_type"] = ["commercial", "spaceship", "freelance"]
    out = model.predict(frame)
    assert np.isnan(out["probability"].iloc[1]) and "license_type" in out["issues"].iloc[1]
    assert out["probability"].iloc[[0, 2]].notna().all()


def test_registry_list_cli_shows_both(registry_env: Trained) -> None:
    res = runner.invoke(build_app(), ["registry", "list", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    by_version = {v["version"]: v for v in doc["versions"]}
    assert by_version[1]["lifecycle"] == "production" and by_version[1]["aliases"] == ["champion"]
    assert by_version[2]["lifecycle"] == "development" and "required" in by_version[2]["reason"]
    table = runner.invoke(build_app(), ["registry", "list"])
    assert table.exit_code == 0 and "production" in table.stdout and "development" in table.stdout


def test_missing_alias_and_version_are_clear(registry_env: Trained) -> None:
    with pytest.raises(RegistryError, match="no version with alias 'canary'"):
        fetch_artifact("canary")
    with pytest.raises(RegistryError, match="no version 99"):
        Registry().resolve("99")


def test_lifecycle_through_the_cli(tmp_path: Path, home, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Own store: v1 champion; the CLI refuses illegal moves and never stages a gate-rejected version.

    The full walk staging -> shadow -> canary 10/50/100 -> production -> rollback is in tests/registry.
    """
    frame, truth = make_gold(1500, seed=21)
    write_gold(tmp_path / "lake", frame, truth)
    s = fast_settings(trials=2, plots=False)
    assert train(TrainRequest(lake=tmp_path / "lake"), s, home)["version"] == 1
    second = train(TrainRequest(lake=tmp_path / "lake", seed=9), s, home)
    assert second["version"] == 2
    app = build_app()

    def cli(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, list(args))
        return res.exit_code, res.output

    code, out = cli("registry", "promote", "2", "--to", "production")
    assert code != 0 and "only legal promotion is development -> staging" in out
    assert "Traceback" not in out
    code, out = cli("registry", "archive", "1")
    assert code != 0 and "replaces it" in out
    code, out = cli("registry", "rollback")
    assert code != 0 and "nothing to roll back to" in out
    if second["lifecycle"] == "development":
        code, out = cli("registry", "promote", "2")
        assert code != 0 and "cannot enter staging: the promotion gate decided 'rejected'" in out
        assert Registry().state("2").stage == "development"
    code, out = cli("registry", "promote", "1")
    assert code != 0 and "already in production" in out
    third = train(TrainRequest(lake=tmp_path / "lake", seed=4), s, home)
    code, out = cli("registry", "archive", str(third["version"]), "--reason", "not needed")
    assert code == 0 and "archived" in out
    steps = [(t.from_state, t.to_state, t.why) for t in Registry().history(str(third["version"]))]
    assert steps[-1] == (third["lifecycle"], "archived", "not needed")
    assert steps[0][0] == "registered"


def test_failed_registration_leaves_no_version(home, lake: Path) -> None:  # noqa: ANN001
    reg = Registry(home=home)
    with pytest.raises(RegistryError, match="no logged MLflow model"):
        reg.register(
            "runs:/0123456789abcdef/nothing-here",
            "0123456789abcdef",
            "production",
            {"gate_decision": "bootstrap"},
            "bad",
        )
    with pytest.raises(RegistryError, match="not 'live'"):
        reg.register("runs:/0123456789abcdef/nothing-here", "0123456789abcdef", "live", {}, "bad")
    assert reg.versions() == []
    assert reg.champion() is None


def test_training_refusals_name_the_problem(tmp_path: Path, home) -> None:  # noqa: ANN001
    frame, _ = make_gold(1200, seed=2)
    frame["label"] = 0
    write_gold(tmp_path / "single", frame)
    with pytest.raises(TrainingError, match="single-class target"):
        train(TrainRequest(lake=tmp_path / "single"), fast_settings(), home)
    small, _ = make_gold(120, seed=2)
    write_gold(tmp_path / "small", small)
    with pytest.raises(TrainingError, match="at least 300"):
        train(TrainRequest(lake=tmp_path / "small"), fast_settings(), home)
    empty, _ = make_gold(300, seed=2)
    write_gold(tmp_path / "empty", empty.iloc[:0])
    with pytest.raises(TrainingError, match="empty"):
        train(TrainRequest(lake=tmp_path / "empty"), fast_settings(), home)
    assert Registry(home=home).versions() == []


def test_cli_errors_are_one_line_and_json(tmp_path: Path, home, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    res = runner.invoke(build_app(), ["train", "--lake", str(tmp_path / "nolake"), "--json"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "does not exist" in json.loads(res.stdout.strip().splitlines()[-1])["error"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    res = runner.invoke(build_app(), ["registry", "list"])
    assert res.exit_code == 75 and "not reachable" in res.output and "Traceback" not in res.output
    frame, truth = make_gold(600, seed=3)
    write_gold(tmp_path / "lake", frame, truth)
    res = runner.invoke(build_app(), ["train", "--lake", str(tmp_path / "lake"), "--json"])
    assert res.exit_code == 75 and "not reachable" in json.loads(res.stdout.strip().splitlines()[-1])["error"]
    assert not os.environ.get("LEADSCORE_DEBUG")
