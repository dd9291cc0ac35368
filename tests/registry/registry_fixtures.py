"""A real SQLite-backed MLflow registry with small real leadscore model versions, registered with the tags
training would give them (no Optuna run): fast enough for lifecycle and delivery tests.

Loaded by tests/registry/conftest.py and tests/delivery/conftest.py (by file path, tests have no packages).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from leadscore_core.settings import HomeSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two different small real artifacts (different boosting rounds)."""
    from leadscore_core import testkit as tiny

    root = tmp_path_factory.mktemp("artifacts")
    # MLflow keeps a logged directory under its own name: training logs a directory named ``leadscore``
    return [tiny.make_artifact(root / f"a{i}" / "leadscore", n=600, rounds=5 + 10 * i) for i in range(2)]


@pytest.fixture
def reg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HomeSettings:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEADSCORE_ACTOR", "test-operator")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_DELIVERY_MODEL_STORE", raising=False)
    return HomeSettings(home=tmp_path / "home")


@pytest.fixture
def add_version(reg_home: HomeSettings, tiny_artifacts: list[Path]) -> Callable[..., int]:
    """``add_version(stage, gate_decision, artifact=0) -> version``: log and register one model version."""
    import mlflow

    from leadscore.registry.registry import Registry
    from training.logging_model import log_pyfunc
    from training.tracking import ensure_experiment

    def add(stage: str = "staging", gate_decision: str = "promoted", artifact: int = 0) -> int:
        reg = Registry(home=reg_home)
        mlflow.set_experiment(experiment_id=ensure_experiment("lifecycle-tests", reg_home))
        with mlflow.start_run() as run:
            uri, model_id = log_pyfunc(tiny_artifacts[artifact])
        tags = {"gate_decision": gate_decision, "gate_reason": f"test gate: {gate_decision}", "holdout_auc": "0.8"}
        return reg.register(uri, run.info.run_id, stage, tags, "test", model_id=model_id)

    return add
