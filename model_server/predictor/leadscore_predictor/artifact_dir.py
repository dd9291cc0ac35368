"""Finding the leadscore artifact inside what KServe's storage initializer or MLflow hands over."""

from __future__ import annotations

from pathlib import Path

from leadscore_core.artifact import MANIFEST

MLFLOW_ARTIFACT = Path("artifacts") / "leadscore"


def resolve_artifact_dir(uri: str) -> Path:
    """The directory holding ``manifest.json`` for ``uri``.

    Accepts the artifact directory itself, an MLflow model directory (``<dir>/artifacts/leadscore``),
    ``file://`` URIs, and a storage-initializer mount holding exactly one of those one level down.

    Raises:
        FileNotFoundError: nothing there looks like a leadscore artifact (the message says what was tried).
        ValueError: a ``models:/`` registry URI, which the storage initializer or ``leadscore serve``
            resolves before the predictor starts.
    """
    if uri.startswith("models:/") or uri.startswith("runs:/"):
        raise ValueError(
            f"{uri}: registry URIs are resolved before the predictor starts (KServe storage initializer or "
            "`leadscore serve --alias`); give the predictor the downloaded directory"
        )
    root = Path(uri.removeprefix("file://")).expanduser()
    candidates = [root, root / MLFLOW_ARTIFACT]
    if root.is_dir():
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            candidates += [child, child / MLFLOW_ARTIFACT]
    for c in candidates:
        if (c / MANIFEST).is_file():
            return c
    raise FileNotFoundError(
        f"{uri}: no {MANIFEST} in it, in {MLFLOW_ARTIFACT}/, or one directory down: not a leadscore model"
    )
