"""The statistics every judging component shares (numpy only): PSI on common bins and the ROC-AUC.

The drift detector and the outcome job (monitors), the canary and shadow analysis (leadscore.delivery) and
the data generator's report all compute these; one implementation means a PSI of 0.1 or an AUC of 0.8
means the same number wherever it is printed or compared with a threshold (:mod:`leadscore_core.settings`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PSI_EPS = 1e-4
"""Floor of a bin share before taking logs (an empty bin must not make PSI infinite)."""


def smooth(shares: Sequence[float] | np.ndarray) -> np.ndarray:
    """Shares floored at :data:`PSI_EPS` and renormalised to sum to 1."""
    q = np.clip(np.asarray(shares, dtype=np.float64), PSI_EPS, None)
    return q / q.sum()


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` of two share (or count) vectors on the same
    bins; each vector is normalised to shares first (:func:`smooth`)."""
    e_raw, a_raw = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if e_raw.shape != a_raw.shape:
        raise ValueError(f"PSI needs the same bins on both sides, got {e_raw.shape} and {a_raw.shape}")
    e, a = smooth(_shares(e_raw)), smooth(_shares(a_raw))
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(v: np.ndarray) -> np.ndarray:
    total = v.sum()
    return v / total if total > 0 else np.full(v.shape, 1.0 / max(v.size, 1))


def average_ranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties given the average of the ranks they span."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    _, first, counts = np.unique(v[order], return_index=True, return_counts=True)
    ranks = np.empty(len(v), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def auc(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> float | None:
    """ROC-AUC of scores ``p`` for binary labels ``y`` by the rank-sum (Mann-Whitney) identity, ties
    averaged; ``None`` when one class is absent (no AUC exists)."""
    y_arr = np.asarray(y).astype(bool)
    if len(y_arr) != len(p):
        raise ValueError(f"AUC needs one score per label, got {len(p)} scores for {len(y_arr)} labels")
    n_pos = int(y_arr.sum())
    n_neg = len(y_arr) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(p)
    return float((ranks[y_arr].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
