"""Finding the artifact in what the storage initializer or MLflow hands over."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leadscore_predictor.artifact_dir import resolve_artifact_dir


def test_direct_mlflow_and_nested_layouts(artifact: Path, tmp_path: Path) -> None:
    assert resolve_artifact_dir(str(artifact)) == artifact
    assert resolve_artifact_dir(f"file://{artifact}") == artifact
    mlflow_dir = tmp_path / "mlflow-model"
    shutil.copytree(artifact, mlflow_dir / "artifacts" / "leadscore")
    assert resolve_artifact_dir(str(mlflow_dir)) == mlflow_dir / "artifacts" / "leadscore"
    mount = tmp_path / "mnt-models"
    shutil.copytree(mlflow_dir, mount / "model")
    assert resolve_artifact_dir(str(mount)) == mount / "model" / "artifacts" / "leadscore"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a leadscore model"):
        resolve_artifact_dir(str(tmp_path))
    with pytest.raises(ValueError, match="storage initializer"):
        resolve_artifact_dir("models:/lead-scoring@champion")
