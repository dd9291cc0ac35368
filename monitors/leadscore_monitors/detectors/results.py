"""Typed measurements and verdicts of one drift window (pydantic, stored as JSON in the service's state)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from leadscore_monitors.stats import FeatureStats

Severity = Literal["none", "moderate", "major"]


class FeatureDrift(BaseModel):
    """Drift statistics of one feature in one window."""

    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    """Population stability index vs the reference, always on the reference bins (both backends)."""
    kl: float
    """KL(window || reference) in nats."""
    test: Literal["ks", "chi2"]
    statistic: float | None = None
    """KS distance or chi-square statistic."""
    p_value: float | None = None
    """Uncorrected p-value of the test (None when the window has no value for the feature)."""
    new_values: list[str] = Field(default_factory=list)
    """Categories the reference never saw that now hold a visible share of the window."""
    # -- set by the verdict (leadscore_monitors.verdict.judge) ---------------------------------------
    threshold: float | None = None
    """PSI floor applied to this feature."""
    p_adjusted: float | None = None
    """p-value after the correction across the window's hypotheses (seasonal features: uncorrected)."""
    seasonality: str = "none"
    """The spec's ``seasonality``: anything but ``none`` is reported, never a retraining trigger."""
    severity: Severity = "none"
    drifted: bool = False
    """PSI at or above the floor AND corrected p-value below alpha (never for seasonal features)."""


class ReasonMix(BaseModel):
    """Which feature is each lead's top reason: the window's mix against the reference sample's."""

    n: int
    shares: dict[str, float]
    reference: dict[str, float]
    psi: float
    p_value: float | None = None
    p_adjusted: float | None = None


class BiasGroup(BaseModel):
    """Parity of one group of a sensitive attribute vs the rest of the window (SageMaker Clarify style)."""

    attribute: str
    group: str
    n: int
    tier_a_rate: float
    tier_a_ratio: float | None
    """Disparate impact: tier-A rate of the group / tier-A rate of the others (None if the others have none)."""
    reference_tier_a_ratio: float | None
    mean_score_gap: float
    """Mean probability of the group minus that of the others."""
    reference_mean_score_gap: float | None
    ratio_change: float | None = None
    """``tier_a_ratio / reference_tier_a_ratio``."""
    gap_change: float | None = None
    """``mean_score_gap - reference_mean_score_gap``."""
    p_rate: float | None = None
    """Two-proportion test: the group's tier-A rate, window vs reference."""
    p_mean: float | None = None
    """Welch test: the group's mean score, window vs reference."""
    flagged: bool = False


class DriftScores(BaseModel):
    """What :meth:`DriftDetector.score` measures, before any threshold."""

    backend: str
    n: int
    features: dict[str, FeatureDrift]
    multivariate_drift: bool | None = None
    """TabularDrift-style verdict over all features with the multiple-testing correction."""
    score_psi: float | None = None
    score_kl: float | None = None
    score_p_value: float | None = None
    """Chi-square of the score distribution on the reference bins."""
    stats: dict[str, FeatureStats] = Field(default_factory=dict)
    """Numeric feature statistics and outlier counts."""
    missing_rates: dict[str, float] = Field(default_factory=dict)
    reasons: ReasonMix | None = None
    bias: list[BiasGroup] = Field(default_factory=list)


class DriftResult(DriftScores):
    """Verdict of one window (:func:`leadscore_monitors.verdict.judge`)."""

    threshold: float
    """Default PSI floor (categorical); each feature carries its own in ``features[*].threshold``."""
    alpha: float = 0.05
    correction: str = "holm"
    drifted_features: list[str]
    seasonal_drift: list[str] = Field(default_factory=list)
    """Calendar/rotating features that moved or show new values: reported, never a retrain."""
    new_values: dict[str, list[str]] = Field(default_factory=dict)
    is_drift: bool
    score_drift: bool = False
    reason_drift: bool = False
    bias_drift: list[str] = Field(default_factory=list)
    """``attribute=group`` whose tier-A ratio or mean-score gap moved vs the reference."""
    severity: Severity = "none"
