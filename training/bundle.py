"""Building the self-describing model artifact with ``leadscore_core.reference.save_artifact``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from leadscore_core.artifact import Calibrator, Manifest
from leadscore_core.contract import FeatureSpec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.reasons import Attribution
from leadscore_core.reference import build_drift_reference, reference_sample, save_artifact
from leadscore_core.vocabulary import learn_vocabularies
from training.errors import TrainingError


def resolve_vocabularies(
    spec: FeatureSpec, train_columns: Mapping[str, Any]
) -> tuple[FeatureSpec, dict[str, list[str]]]:
    """Learn the ``categories: learn`` vocabularies on the training part only; the spec with them filled in."""
    try:
        vocab = learn_vocabularies(spec, train_columns)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    return spec.with_vocabularies(vocab), vocab


def build_artifact(
    path: Path,
    *,
    model_name: str,
    spec: FeatureSpec,
    encoder: FeatureEncoder,
    booster: xgb.Booster,
    calibrator: Calibrator,
    cutoffs: dict[str, float],
    reference_columns: Mapping[str, Any],
    reference_scores: np.ndarray,
    provenance: dict[str, Any],
    metrics: dict[str, float],
    sample_size: int,
    seed: int,
    vocabularies: dict[str, list[str]] | None = None,
    attribution: Attribution = "approx",
) -> Path:
    """Write the artifact directory; the drift reference covers the training part and its calibrated scores."""
    manifest = Manifest(
        model_name=model_name,
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=encoder.columns,
        calibrator=calibrator,
        tier_cutoffs=cutoffs,
        top_k_reasons=spec.scoring.top_k_reasons,
        attribution=attribution,
        provenance=provenance,
        metrics={k: float(v) for k, v in metrics.items()},
        vocabularies=dict(vocabularies or {}),
    )
    reference = build_drift_reference(spec, reference_columns, scores=reference_scores)
    sample = reference_sample(spec, reference_columns, size=sample_size, seed=seed)
    return save_artifact(path, manifest, booster, reference, sample)


def per_feature_importance(booster: xgb.Booster, encoder: FeatureEncoder) -> dict[str, float]:
    """Total gain per business feature (one-hot columns summed back to their feature)."""
    gain = booster.get_score(importance_type="total_gain")
    out = {name: 0.0 for name in encoder.feature_names}
    for key, value in gain.items():
        index = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else encoder.columns.index(key)
        out[encoder.column_feature[index]] += float(value if isinstance(value, int | float) else sum(value))
    return out
