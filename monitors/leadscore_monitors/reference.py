"""The drift reference of a serving model version, as the detectors consume it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

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
    model_dir: Path | None = None
    """The artifact directory (scores the sample for the reason mix and the bias baseline)."""
    tier_cutoffs: dict[str, float] | None = None
    """Tier -> minimum calibrated probability, best tier first (the artifact's)."""

    @cached_property
    def outputs(self) -> SampleOutputs | None:
        """The serving model's answers for the reference sample (None without a model artifact)."""
        if self.model_dir is None:
            return None
        from leadscore_core.artifact import LeadScorer

        scorer = LeadScorer(self.model_dir).load()
        assert scorer.encoder is not None
        n = len(next(iter(self.sample.values()))) if self.sample else 0
        records = [{f.name: _clean(f.type, self.sample[f.name][i]) for f in self.spec.features} for i in range(n)]
        batch = scorer.score(scorer.encoder.encode_records(records), explain=True, approx=True)
        assert batch.contributions is not None
        names = scorer.encoder.feature_names
        top = [names[j] for j in np.argmax(np.abs(batch.contributions), axis=1)] if n else []
        return SampleOutputs(probability=batch.probability, tier=list(batch.tier), top_reason=top, records=records)

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.spec.features if f.type == "numeric" and f.name in self.drift.numeric]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.spec.features if f.name in self.drift.categorical]

    @property
    def features(self) -> list[str]:
        return [f.name for f in self.spec.features if f.name in self.drift.numeric or f.name in self.drift.categorical]


@dataclass(frozen=True)
class SampleOutputs:
    """Probability, tier and top reason of each reference-sample lead, as the serving model answers."""

    probability: np.ndarray
    tier: list[str]
    top_reason: list[str]
    records: list[dict[str, Any]]


def _clean(kind: str, value: Any) -> Any:
    """A reference-sample value back to the clean value the encoder takes."""
    if kind == "numeric":
        return None if value != value else float(value)
    s = str(value)
    if s == "":
        return None
    if kind == "boolean":
        return s.lower() in ("true", "1")
    return s


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
        model_dir=path,
        tier_cutoffs=dict(manifest.tier_cutoffs),
    )
