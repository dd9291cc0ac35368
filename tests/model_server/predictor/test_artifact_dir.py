"""Finding the artifact in what the storage initializer or MLflow hands over (leadscore_core.resolve)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leadscore_core.artifact import MANIFEST, REGISTRY_INFO
from leadscore_core.resolve import ArtifactNotFound, find_artifact_dir, registry_key, resolve_artifact


def test_direct_mlflow_and_nested_layouts(artifact: Path, tmp_path: Path) -> None:
    assert find_artifact_dir(str(artifact)) == artifact
    assert find_artifact_dir(f"file://{artifact}") == artifact
    mlflow_dir = tmp_path / "mlflow-model"
    shutil.copytree(artifact, mlflow_dir / "artifacts" / "leadscore")
    assert find_artifact_dir(str(mlflow_dir)) == mlflow_dir / "artifacts" / "leadscore"
    mount = tmp_path / "mnt-models"
    shutil.copytree(mlflow_dir, mount / "model")
    assert find_artifact_dir(str(mount)) == mount / "model" / "artifacts" / "leadscore"
    resolved = resolve_artifact(str(mount))
    assert resolved.path == (mount / "model" / "artifacts" / "leadscore").resolve() and resolved.source == "directory"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match="not a leadscore model"):
        resolve_artifact(str(tmp_path))
    with pytest.raises(ValueError, match="storage initializer"):
        resolve_artifact("models:/lead-scoring@champion")
    with pytest.raises(ArtifactNotFound, match="not a leadscore model"):
        resolve_artifact("champion")  # no registry here: a bare name is a directory name
    with pytest.raises(ArtifactNotFound, match="models:/<name>/<version>"):
        registry_key("models:/lead-scoring/latest/extra")


@pytest.mark.parametrize(
    ("ref", "key"),
    [("models:/lead-scoring/7", "7"), ("models:/lead-scoring@champion", "champion"), ("shadow", "shadow"), ("3", "3")],
)
def test_registry_references_go_through_the_download(artifact: Path, tmp_path: Path, ref: str, key: str) -> None:
    """The version comes from the download's registry.json, not from the directory name."""
    asked: list[str] = []

    def download(k: str) -> Path:
        asked.append(k)
        dst = tmp_path / f"whatever-{k}"
        shutil.copytree(artifact, dst / "artifacts" / "leadscore")
        art = dst / "artifacts" / "leadscore"
        manifest = json.loads((art / MANIFEST).read_text())
        manifest["provenance"].pop("model_version")  # a registry download knows its version from registry.json
        (art / MANIFEST).write_text(json.dumps(manifest))
        (art / REGISTRY_INFO).write_text(json.dumps({"model_version": "41"}))
        return dst

    resolved = resolve_artifact(ref, download)
    assert asked == [key] and resolved.source == f"registry {key}"
    assert resolved.path.name == "leadscore" and resolved.version == "41"
