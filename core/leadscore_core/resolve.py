"""The one artifact resolver: a directory, a registry version or a registry alias -> the artifact directory.

Every component finds its model here: the predictor (what KServe's storage initializer mounted), ``leadscore
serve`` and ``leadscore monitor`` (a ``--model-dir`` or a registry alias), the monitors' shadow scorer.

A reference is one of:

- a directory (or ``file://`` URI) holding ``manifest.json`` itself, in ``artifacts/leadscore`` (an MLflow
  model directory), or exactly one of those one directory down (a storage-initializer mount);
- a registry reference: ``models:/<name>/<version>``, ``models:/<name>@<alias>``, or a bare version/alias
  (``3``, ``champion``) that is not an existing path.

Core does not import MLflow: a registry reference needs a :data:`Download` callable (for the tools image,
``leadscore.registry.registry.fetch_artifact``), else :func:`resolve_artifact` refuses it with a message
saying who resolves it. The version comes from the artifact itself (:func:`artifact_version`), never from
the directory name.

Public names: :func:`resolve_artifact`, :func:`find_artifact_dir`, :func:`registry_key`,
:class:`ResolvedArtifact`, :class:`ArtifactNotFound`, :data:`MLFLOW_ARTIFACT`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leadscore_core.artifact import MANIFEST, artifact_version

MLFLOW_ARTIFACT = Path("artifacts") / "leadscore"
"""Where the leadscore artifact sits inside an MLflow model directory."""
Download = Callable[[str], Path]
"""Registry download: a version or alias -> the local directory it was downloaded to."""
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?$")
_BARE = re.compile(r"^(\d+|[A-Za-z][\w-]*)$")


class ArtifactNotFound(FileNotFoundError):
    """Nothing at the reference looks like a leadscore artifact (the message says what was tried)."""


@dataclass(frozen=True)
class ResolvedArtifact:
    """An artifact directory ready for :class:`~leadscore_core.artifact.LeadScorer`."""

    path: Path
    """The directory holding ``manifest.json``."""
    version: str
    """Registry version from the artifact's provenance or ``registry.json``; ``""`` when it has none."""
    source: str
    """``directory`` or ``registry <key>``."""


def registry_key(ref: str) -> str | None:
    """The version or alias a registry reference names (``models:/m/3`` -> ``3``, ``champion`` ->
    ``champion``), or None when ``ref`` is a path."""
    m = _MODELS_URI.match(ref)
    if m:
        return m.group("version") or m.group("alias")
    if ref.startswith(("models:/", "runs:/")):
        raise ArtifactNotFound(f"{ref}: expected models:/<name>/<version> or models:/<name>@<alias>")
    if _BARE.match(ref) and not Path(ref).exists():
        return ref
    return None


def find_artifact_dir(location: str | Path) -> Path:
    """The directory holding ``manifest.json`` at a local ``location`` (path or ``file://`` URI).

    Raises:
        ArtifactNotFound: no manifest there, in ``artifacts/leadscore``, or one directory down.
    """
    root = Path(str(location).removeprefix("file://")).expanduser()
    candidates = [root, root / MLFLOW_ARTIFACT]
    if root.is_dir():
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            candidates += [child, child / MLFLOW_ARTIFACT]
    for c in candidates:
        if (c / MANIFEST).is_file():
            return c
    raise ArtifactNotFound(
        f"{location}: no {MANIFEST} in it, in {MLFLOW_ARTIFACT}/, or one directory down: not a leadscore model"
    )


def resolve_artifact(ref: str | Path, download: Download | None = None) -> ResolvedArtifact:
    """Resolve a directory or a registry version/alias to its artifact directory and version.

    Raises:
        ArtifactNotFound: a directory that holds no artifact (without ``download`` a bare ``champion`` is
            taken as a directory name).
        ValueError: a ``models:/`` reference without ``download`` (this process cannot reach the registry).
    """
    key = registry_key(str(ref)) if isinstance(ref, str) else None
    if key is None or (download is None and not str(ref).startswith("models:/")):
        path = find_artifact_dir(ref)
        return ResolvedArtifact(path.resolve(), artifact_version(path, default=""), "directory")
    if download is None:
        raise ValueError(
            f"{ref}: a registry reference is resolved before this process starts (KServe storage initializer, "
            "or `leadscore serve --alias`); give it the downloaded directory"
        )
    path = find_artifact_dir(download(key))
    return ResolvedArtifact(path.resolve(), artifact_version(path, default=""), f"registry {key}")
