"""Fixtures for training tests: isolated LEADSCORE_HOME, tiny gold tables, one trained pair of versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore_core.settings import HomeSettings
from training.testkit import Trained, fast_settings, make_gold, write_gold


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HomeSettings:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return HomeSettings(home=tmp_path / "home")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    frame, truth = make_gold(2000, seed=11)
    write_gold(tmp_path / "lake", frame, truth)
    return tmp_path / "lake"


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Two runs on the same gold version: v1 bootstraps as champion, v2 meets the gate."""
    from training.train import TrainRequest, train

    root = tmp_path_factory.mktemp("trained")
    frame, truth = make_gold(2500, seed=5)
    write_gold(root / "lake", frame, truth)
    home = HomeSettings(home=root / "home")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEADSCORE_HOME", str(home.home))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        first = train(TrainRequest(lake=root / "lake"), fast_settings(), home)
        second = train(TrainRequest(lake=root / "lake"), fast_settings(), home)
    finally:
        mp.undo()
    return Trained(home=home, lake=root / "lake", first=first, second=second)


@pytest.fixture
def registry_env(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """The session's trained store as the current LEADSCORE_HOME."""
    monkeypatch.setenv("LEADSCORE_HOME", str(trained.home.home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return trained
