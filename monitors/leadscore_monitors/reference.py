"""The drift reference of a serving model version, as the detectors consume it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from leadscore_core.artifact import (
    MANIFEST,
    DriftReference,
    Manifest,
    artifact_version,
    read_drift_reference,
    read_reference_sample,
)
from leadscore_core.contract import FeatureSpec


@dataclass(frozen=True)
class Reference:
    """Everything a detector is built from: contract, bins/stats and the raw reference sample."""

    model_name: str
    model_version: str
    spec: FeatureSpec
    drift: DriftReference
    sample: dict[str, np.ndarray]
    """Per feature: float64 with NaN (numeric) or str with ``""`` for missing (others)."""

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.spec.features if f.type == "numeric" and f.name in self.drift.numeric]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.spec.features if f.name in self.drift.categorical]

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.spec.features if f.name in self.drift.numeric or f.name in self.drift.categorical]


def load_reference(model_dir: str | Path) -> Reference:
    """Read the reference stored in a model artifact directory.

    Args:
        model_dir: the artifact directory (``<model version>/artifacts/leadscore``).

    Raises:
        FileNotFoundError: the directory is not a leadscore artifact.
    """
    path = Path(model_dir)
    if not (path / MANIFEST).exists():
        raise FileNotFoundError(f"{path}: not a leadscore model artifact (no {MANIFEST})")
    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    version = artifact_version(path, manifest)
    return Reference(
        model_name=manifest.model_name,
        model_version=version,
        spec=manifest.spec,
        drift=read_drift_reference(path),
        sample=read_reference_sample(path),
    )
