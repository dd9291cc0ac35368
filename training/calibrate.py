"""Isotonic calibration (exported as ``Calibrator`` knots) and tier cut-offs from the spec's quantiles."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from leadscore_core.artifact import Calibrator
from leadscore_core.contract import FeatureSpec

RANK_EPSILON = 1e-3
"""Weight of the identity blended into the isotonic map so it is strictly increasing: the calibrated
score keeps the booster's ranking (isotonic plateaus would otherwise create ties and cost AUC) while
moving no probability by more than 0.001."""


def sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=np.float64)))


def fit_calibrator(raw_probability: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit raw booster probability -> conversion rate on a time-later slice the booster never saw."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(np.asarray(raw_probability, dtype=np.float64), np.asarray(y, dtype=np.float64))
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64)
    ys = np.asarray(iso.y_thresholds_, dtype=np.float64)
    xs, keep = np.unique(xs, return_index=True)
    ys = ys[keep]
    # extend to [0, 1] so the map is defined (and strictly increasing) everywhere
    if xs[0] > 0.0:
        xs, ys = np.insert(xs, 0, 0.0), np.insert(ys, 0, ys[0])
    if xs[-1] < 1.0:
        xs, ys = np.append(xs, 1.0), np.append(ys, ys[-1])
    ys = (1.0 - RANK_EPSILON) * ys + RANK_EPSILON * xs
    return Calibrator(x=[float(v) for v in xs], y=[float(v) for v in ys])


def tier_cutoffs(spec: FeatureSpec, reference_scores: np.ndarray) -> dict[str, float]:
    """Tier -> minimum calibrated probability, best tier first (spec quantiles of the reference scores)."""
    ordered = sorted(spec.scoring.tiers.items(), key=lambda kv: kv[1], reverse=True)
    return {name: float(np.quantile(reference_scores, q)) for name, q in ordered}
