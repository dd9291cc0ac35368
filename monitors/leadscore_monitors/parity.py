"""What the model answers, window against reference: the top-reason mix and parity across sensitive groups.

- Reason mix: the share of leads whose top reason is each feature. The reference mix is computed from
  the artifact's reference sample, scored by the artifact itself (``Reference.outputs``), so it is the
  mix the model gives on the data it was trained on. A different feature driving the scores shows here
  even when every input looks stable.
- Bias (SageMaker Clarify's disparate impact and difference in means, per group of each sensitive
  attribute the spec names): the tier-A rate of the group divided by that of everyone else, and the mean
  probability of the group minus that of everyone else, in the window and in the reference sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import norm, ttest_ind

from leadscore_monitors import stats
from leadscore_monitors.detectors.results import BiasGroup, ReasonMix
from leadscore_monitors.reference import Reference

if TYPE_CHECKING:
    from leadscore_monitors.detectors.base import WindowData


def reason_mix(reference: Reference, top_reasons: Sequence[str | None]) -> ReasonMix | None:
    """The window's top-reason mix against the reference sample's (None without a reference model)."""
    ref = reference.outputs
    present = [r for r in top_reasons if r]
    if ref is None or not present:
        return None
    vocab = reference.spec.feature_names
    expected = stats.mix_shares(ref.top_reason, vocab)
    actual = stats.mix_shares(present, vocab)
    return ReasonMix(
        n=len(present),
        shares={k: float(v) for k, v in zip(vocab, actual, strict=True) if v > 0},
        reference={k: float(v) for k, v in zip(vocab, expected, strict=True) if v > 0},
        psi=stats.psi(expected, actual),
        p_value=stats.chi2_shares(expected, len(ref.top_reason), actual, len(present)),
    )


def _tier_a(reference: Reference, p: np.ndarray, tiers: Sequence[str | None] | None) -> np.ndarray:
    cut = reference.tier_cutoffs or {}
    best = next(iter(cut), "A")
    if tiers is not None:
        return np.asarray([t == best for t in tiers], dtype=bool)
    return p >= cut.get(best, np.inf)


def _ratio(a: np.ndarray, group: np.ndarray) -> float | None:
    rest = a[~group].mean() if (~group).any() else 0.0
    return float(a[group].mean() / rest) if rest > 0 else None


def _two_proportions(k1: float, n1: int, k2: float, n2: int) -> float:
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 1.0 if se == 0 else float(2 * norm.sf(abs(k1 / n1 - k2 / n2) / se))


def bias_groups(
    reference: Reference, prepared: dict[str, np.ndarray], window: WindowData, min_group: int
) -> list[BiasGroup]:
    """Parity figures of every group (with ``min_group`` leads in the window) of each sensitive attribute."""
    ref = reference.outputs
    assert window.row_scores is not None
    scored = ~np.isnan(window.row_scores)
    p = window.row_scores[scored]
    tiers = [t for t, s in zip(window.row_tiers, scored, strict=True) if s] if window.row_tiers else None
    a_win = _tier_a(reference, p, tiers)
    out: list[BiasGroup] = []
    for attr in reference.spec.monitoring.sensitive_attributes:
        if attr not in reference.drift.categorical or attr not in prepared:
            continue
        cats = reference.drift.categorical[attr].categories
        codes = prepared[attr][scored]
        ref_labels = np.asarray([stats.as_category(v) or "" for v in reference.sample[attr]]) if ref else None
        for code in np.unique(codes):
            if code >= len(cats):  # missing
                continue
            g = codes == code
            if g.sum() < min_group or (~g).sum() < min_group:
                continue
            label = cats[code]
            item = BiasGroup(
                attribute=attr,
                group=label,
                n=int(g.sum()),
                tier_a_rate=float(a_win[g].mean()),
                tier_a_ratio=_ratio(a_win, g),
                reference_tier_a_ratio=None,
                mean_score_gap=float(p[g].mean() - p[~g].mean()),
                reference_mean_score_gap=None,
            )
            if ref is not None and ref_labels is not None:
                _against_reference(item, reference, ref_labels == label, p[g], a_win[g])
            out.append(item)
    return out


def _against_reference(item: BiasGroup, reference: Reference, rg: np.ndarray, p_g: np.ndarray, a_g: np.ndarray) -> None:
    ref = reference.outputs
    assert ref is not None
    if rg.sum() < 2 or (~rg).sum() < 2:
        return
    rp = ref.probability
    ra = _tier_a(reference, rp, ref.tier)
    item.reference_tier_a_ratio = _ratio(ra, rg)
    item.reference_mean_score_gap = float(rp[rg].mean() - rp[~rg].mean())
    if item.tier_a_ratio is not None and item.reference_tier_a_ratio:
        item.ratio_change = item.tier_a_ratio / item.reference_tier_a_ratio
    item.gap_change = item.mean_score_gap - item.reference_mean_score_gap
    item.p_rate = _two_proportions(float(a_g.sum()), len(a_g), float(ra[rg].sum()), int(rg.sum()))
    item.p_mean = float(ttest_ind(p_g, rp[rg], equal_var=False).pvalue)
