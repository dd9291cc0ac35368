"""Holdout evaluation: ranking, probability quality, the operating point, lift by decile and tier."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from leadscore_core.artifact import tier_for


def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """ECE over equal-width probability bins: share-weighted |mean predicted - observed rate|."""
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return float(total)


def top_fraction_mask(p: np.ndarray, fraction: float) -> np.ndarray:
    k = max(1, int(math.ceil(len(p) * fraction)))
    order = np.argsort(-p, kind="mergesort")
    mask = np.zeros(len(p), dtype=bool)
    mask[order[:k]] = True
    return mask


def evaluate(
    p: np.ndarray,
    y: np.ndarray,
    cutoffs: dict[str, float],
    operating_tier: str,
    oracle: np.ndarray | None = None,
) -> dict[str, float]:
    """Holdout metrics of calibrated probabilities ``p`` (flat dict, MLflow-loggable)."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    base = float(y.mean())
    m: dict[str, float] = {
        "n_holdout": float(len(y)),
        "base_rate": base,
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(p, y),
        "mean_probability": float(p.mean()),
    }
    top = top_fraction_mask(p, 0.1)
    m["top_decile_conversion"] = float(y[top].mean())
    m["top_decile_lift"] = float(y[top].mean() / base) if base > 0 else 0.0
    names = list(cutoffs)
    if operating_tier not in names:
        operating_tier = names[min(1, len(names) - 1)]
    threshold = cutoffs[operating_tier]
    worked = p >= threshold
    tp = float((worked & (y == 1)).sum())
    m["operating_threshold"] = float(threshold)
    m["precision_at_threshold"] = tp / worked.sum() if worked.any() else 0.0
    m["recall_at_threshold"] = tp / max(float(y.sum()), 1.0)
    tiers = np.array([tier_for(float(v), cutoffs) for v in p])
    for name in [*names, "D"]:
        mask = tiers == name
        rate = float(y[mask].mean()) if mask.any() else 0.0
        m[f"tier_{name}_share"] = float(mask.mean())
        m[f"tier_{name}_conversion"] = rate
        m[f"tier_{name}_lift"] = rate / base if base > 0 else 0.0
    if oracle is not None:
        m["oracle_auc"] = float(roc_auc_score(y, oracle))
        m["auc_to_oracle"] = m["auc"] / m["oracle_auc"]
    return m


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p))
