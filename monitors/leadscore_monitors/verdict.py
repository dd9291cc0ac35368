"""The drift verdict: an effect size (PSI on the reference bins) AND a test significant after correction.

One function, :func:`judge`, turns a window's measurements (:class:`DriftScores`) into a verdict
(:class:`DriftResult`). Every threshold comes from :class:`leadscore_core.settings.DriftThresholds`
(and a feature's ``drift_psi`` in the spec); ``bench/drift_power.py`` measures its false-alarm rate and
detection power on the generator, so the defaults are numbers with known error rates, not folklore.

- The hypotheses of one window (every judged feature, the score distribution, the top-reason mix) form
  one family, corrected with Holm (family-wise error <= alpha) or Benjamini-Hochberg.
- A hypothesis is flagged only when its corrected p-value is below alpha AND its PSI reaches the floor:
  at n = 5,000 every p-value of a negligible shift is ~0, at n = 500 a noisy PSI can cross any floor.
- Features the spec marks ``seasonality: calendar|rotating`` are measured and reported
  (``seasonal_drift``, ``new_values``) but never make ``is_drift`` (which drives retraining).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from leadscore_core.contract import FeatureSpec
from leadscore_core.settings import DriftThresholds

from leadscore_monitors.detectors.results import DriftResult, DriftScores

SCORE = "__score__"
REASONS = "__reasons__"


def adjust(p_values: Mapping[str, float], method: str = "holm") -> dict[str, float]:
    """Multiple-testing adjusted p-values: Holm step-down (family-wise) or Benjamini-Hochberg (FDR)."""
    names = sorted(p_values, key=lambda k: p_values[k])
    p = np.asarray([p_values[k] for k in names], dtype=np.float64)
    m = len(p)
    if m == 0:
        return {}
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum((m - np.arange(m)) * p, 1.0))
    elif method == "bh":
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * p)[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    else:
        raise ValueError(f"unknown correction {method!r} (holm or bh)")
    return {k: float(a) for k, a in zip(names, adj, strict=True)}


def _severity(psi: float, floor: float, t: DriftThresholds) -> str:
    return "major" if psi >= t.psi_major else "moderate" if psi >= floor else "none"


def judge(spec: FeatureSpec, scores: DriftScores, t: DriftThresholds) -> DriftResult:
    """Apply the thresholds to one window's measurements."""
    defs = {f.name: f for f in spec.features}
    family: dict[str, float] = {}
    for name, fd in scores.features.items():
        fd.seasonality = defs[name].seasonality if name in defs else "none"
        if fd.p_value is not None and fd.seasonality == "none":
            family[name] = fd.p_value
    if scores.score_p_value is not None:
        family[SCORE] = scores.score_p_value
    if scores.reasons is not None and scores.reasons.p_value is not None:
        family[REASONS] = scores.reasons.p_value
    adjusted = adjust(family, t.correction)
    # a seasonal feature is its own family of one: reported against the same floor, never a retrain
    drifted, seasonal = [], []
    for name, fd in scores.features.items():
        f = defs.get(name)
        fd.threshold = (f.drift_psi if f is not None and f.drift_psi else None) or t.psi_for(f.type if f else "")
        fd.p_adjusted = adjusted.get(name, fd.p_value)
        fd.severity = _severity(fd.psi, fd.threshold, t)  # type: ignore[assignment]
        shifted = fd.p_adjusted is not None and fd.p_adjusted < t.alpha and fd.psi >= fd.threshold
        if fd.seasonality != "none":
            if shifted or fd.new_values:
                seasonal.append(name)
        elif shifted:
            fd.drifted = True
            drifted.append(name)
    score_drift = (
        scores.score_psi is not None
        and SCORE in adjusted
        and adjusted[SCORE] < t.alpha
        and scores.score_psi >= t.psi_score
    )
    reason_drift = False
    if scores.reasons is not None and REASONS in adjusted:
        scores.reasons.p_adjusted = adjusted[REASONS]
        reason_drift = adjusted[REASONS] < t.alpha and scores.reasons.psi >= t.psi_reasons
    bias_drift = []
    m = max(2 * len(scores.bias), 1)  # Bonferroni over the groups' two tests
    for g in scores.bias:
        ratio_moved = g.ratio_change is not None and not (t.bias_ratio_min <= g.ratio_change <= 1 / t.bias_ratio_min)
        gap_moved = g.gap_change is not None and abs(g.gap_change) > t.bias_score_gap_max
        g.flagged = bool(
            (ratio_moved and g.p_rate is not None and g.p_rate * m < t.alpha)
            or (gap_moved and g.p_mean is not None and g.p_mean * m < t.alpha)
        )
        if g.flagged:
            bias_drift.append(f"{g.attribute}={g.group}")
    worst = max((fd.psi for fd in scores.features.values() if fd.drifted), default=0.0)
    return DriftResult(
        **scores.model_dump(exclude={"features", "stats", "reasons", "bias"}),
        features=scores.features,
        stats=scores.stats,
        reasons=scores.reasons,
        bias=scores.bias,
        threshold=t.psi_categorical,
        alpha=t.alpha,
        correction=t.correction,
        drifted_features=drifted,
        seasonal_drift=seasonal,
        new_values={k: fd.new_values for k, fd in scores.features.items() if fd.new_values},
        is_drift=bool(drifted) or bool(score_drift) or reason_drift,
        score_drift=bool(score_drift),
        reason_drift=reason_drift,
        bias_drift=bias_drift,
        severity="major" if worst >= t.psi_major else "moderate" if drifted or score_drift or reason_drift else "none",
    )
