"""Logging the artifact as an MLflow pyfunc model (the wrapper pickled by value + shipped as code)."""

from __future__ import annotations

import warnings
from importlib import metadata
from pathlib import Path

import cloudpickle

from training import pyfunc

CORE_REQUIREMENTS = ("mlflow", "xgboost", "numpy", "pandas", "pydantic", "pydantic-settings", "PyYAML")
"""What the wrapper needs besides ``leadscore-core`` itself (installed from this repo's ``core/``)."""


def _pins() -> list[str]:
    out = []
    for dist in CORE_REQUIREMENTS:
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(dist)
    return out


def log_pyfunc(artifact_dir: Path, name: str = "model") -> tuple[str, str | None]:
    """Log ``artifact_dir`` as the model's ``leadscore`` artifact inside the active run.

    Returns:
        The model URI and the MLflow 3 logged-model id (the registry needs both for the version source).
    """
    import mlflow.pyfunc

    cloudpickle.register_pickle_by_value(pyfunc)
    try:
        with warnings.catch_warnings():
            # the wrapper takes a DataFrame (no list[...] type-hint signature); pickling by value is deliberate
            warnings.filterwarnings("ignore", message=".*infer signature from type hint.*")
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=pyfunc.LeadScoringModel(),
                artifacts={pyfunc.ARTIFACT_KEY: str(artifact_dir)},
                code_paths=[pyfunc.__file__],
                pip_requirements=_pins(),
            )
    finally:
        cloudpickle.unregister_pickle_by_value(pyfunc)
    return info.model_uri, getattr(info, "model_id", None)
