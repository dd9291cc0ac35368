"""Canary vs stable: what is queried from Prometheus, and how one interval is judged.

Every series is selected by ``model_version`` (the transformer and predictor label their series with the
version that answered, so the two sides of a split are told apart even behind one transformer revision):

* ``leadscore_requests_total{model_version,status}``                 success rate (5xx are failures)
* ``leadscore_request_duration_seconds_bucket{model_version,le}``    p99 latency
* ``leadscore_score_bucket{model_version,le}``                       PSI of the canary's score distribution
  against the one its shadow replay approved (stable's live scores through the approved shift,
  :mod:`leadscore.delivery.approval`); against stable's when no shadow evidence exists, and the verdict says so
* ``leadscore_outcomes_total{model_version,tier,converted}``         conversion in the top tiers (KPI)

A judgement is ``pass``, ``fail`` or ``wait``: too few requests on either side is ``wait`` (a quiet hour
neither passes nor fails a model); the KPI is judged only once both sides have enough labelled outcomes.
The thresholds are :class:`leadscore_core.settings.CanaryThresholds` (``LEADSCORE_CANARY_*``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from leadscore.delivery.approval import VS_STABLE, ScoreReference
from leadscore.delivery.prom import Prometheus
from leadscore_core.settings import CanaryThresholds
from leadscore_core.stats import psi


@dataclass
class SideStats:
    model_version: int
    requests: float
    errors: float
    p99_s: float | None
    score_buckets: list[tuple[float, float]]
    """Cumulative (le, count) pairs, +Inf last."""
    top_outcomes: float
    top_conversions: float

    @property
    def success_rate(self) -> float | None:
        return None if self.requests <= 0 else 1.0 - self.errors / self.requests

    @property
    def scores(self) -> float:
        return self.score_buckets[-1][1] if self.score_buckets else 0.0

    @property
    def conversion(self) -> float | None:
        return None if self.top_outcomes <= 0 else self.top_conversions / self.top_outcomes


@dataclass
class Check:
    name: str
    status: str
    """pass | fail | wait | skip"""
    detail: str


@dataclass
class Verdict:
    status: str
    """pass | fail | wait"""
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def side_stats(prom: Prometheus, version: int, window_s: int, at: float, tiers: tuple[str, ...]) -> SideStats:
    """One side's numbers over ``[at - window_s, at]``."""
    sel = f'model_version="{int(version)}"'
    w = f"[{int(window_s)}s]"
    requests = prom.scalar(f"sum(increase(leadscore_requests_total{{{sel}}}{w}))", at) or 0.0
    errors = prom.scalar(f'sum(increase(leadscore_requests_total{{{sel},status=~"5.."}}{w}))', at) or 0.0
    p99 = prom.scalar(
        f"histogram_quantile(0.99, sum by (le) (increase(leadscore_request_duration_seconds_bucket{{{sel}}}{w})))", at
    )
    buckets = prom.query(f"sum by (le) (increase(leadscore_score_bucket{{{sel}}}{w}))", at)
    cumulative = sorted((float(s.labels["le"]), s.value) for s in buckets)
    tier_re = "|".join(tiers)
    outcomes = prom.query(f'sum by (converted) (increase(leadscore_outcomes_total{{{sel},tier=~"{tier_re}"}}{w}))', at)
    by = {s.labels.get("converted", ""): s.value for s in outcomes}
    return SideStats(int(version), requests, errors, p99, cumulative, sum(by.values()), by.get("true", 0.0))


def psi_from_buckets(expected: list[tuple[float, float]], actual: list[tuple[float, float]]) -> float:
    """PSI (:func:`leadscore_core.stats.psi`) between two histograms given as cumulative (le, count) pairs
    over the same bucket bounds."""
    if [le for le, _ in expected] != [le for le, _ in actual]:
        raise ValueError("the two score histograms have different buckets")
    return psi(_counts(expected), _counts(actual))


def _counts(cumulative: list[tuple[float, float]]) -> list[float]:
    counts, previous = [], 0.0
    for _, c in cumulative:
        counts.append(max(c - previous, 0.0))
        previous = c
    return counts


def judge(canary: SideStats, stable: SideStats, t: CanaryThresholds, scores: ScoreReference = VS_STABLE) -> Verdict:
    """Judge one interval: wait on too few samples; otherwise every check, fail if any fails. ``scores``: what
    the canary's score distribution is compared with (the shadow-approved shift, or stable's)."""
    if canary.requests < t.min_requests or stable.requests < t.min_requests:
        detail = (
            f"too few requests to judge: canary v{canary.model_version} {canary.requests:.0f}, stable "
            f"v{stable.model_version} {stable.requests:.0f} (need {t.min_requests} each)"
        )
        return Verdict("wait", [Check("samples", "wait", detail)])
    checks = [
        _success(canary, stable, t),
        _latency(canary, t),
        _psi(canary, stable, t, scores),
        _kpi(canary, stable, t),
    ]
    if any(c.status == "fail" for c in checks):
        return Verdict("fail", checks)
    if any(c.status == "wait" for c in checks):
        return Verdict("wait", checks)
    return Verdict("pass", checks)


def _success(canary: SideStats, stable: SideStats, t: CanaryThresholds) -> Check:
    c, s = canary.success_rate or 0.0, stable.success_rate or 0.0
    floor = max(t.min_success_rate, s - t.max_success_drop)
    ok = c >= floor
    return Check("success_rate", "pass" if ok else "fail", f"canary {c:.4f} vs stable {s:.4f} (floor {floor:.4f})")


def _latency(canary: SideStats, t: CanaryThresholds) -> Check:
    if canary.p99_s is None:
        return Check("p99_latency", "wait", "no latency histogram for the canary yet")
    ok = canary.p99_s < t.max_p99_s
    detail = f"canary p99 {canary.p99_s * 1000:.0f} ms (limit {t.max_p99_s * 1000:.0f} ms)"
    return Check("p99_latency", "pass" if ok else "fail", detail)


def _psi(canary: SideStats, stable: SideStats, t: CanaryThresholds, ref: ScoreReference) -> Check:
    if canary.scores < t.min_scores or stable.scores < t.min_scores:
        return Check("score_psi", "wait", f"scores canary {canary.scores:.0f}, stable {stable.scores:.0f}")
    vs_stable = psi_from_buckets(stable.score_buckets, canary.score_buckets)
    if ref.shift is None:
        value, extra = vs_stable, ""
    else:
        value = psi_from_buckets(ref.shift.expected(stable.score_buckets), canary.score_buckets)
        extra = f"; vs stable {vs_stable:.4f}, in the shadow replay {ref.shift.score_psi:.4f}"
    detail = f"PSI {value:.4f} {ref.label} (limit {t.max_psi}{extra})"
    return Check("score_psi", "pass" if value <= t.max_psi else "fail", detail)


def _kpi(canary: SideStats, stable: SideStats, t: CanaryThresholds) -> Check:
    if canary.top_outcomes < t.min_outcomes or stable.top_outcomes < t.min_outcomes:
        detail = (
            f"labelled top-tier outcomes canary {canary.top_outcomes:.0f}, stable {stable.top_outcomes:.0f} "
            f"(judged from {t.min_outcomes} each)"
        )
        return Check("top_tier_conversion", "skip", detail)
    c, s = canary.conversion or 0.0, stable.conversion or 0.0
    z = conversion_drop_z(canary, stable)
    ok = c >= s - t.max_kpi_drop or z < t.kpi_z
    detail = f"canary {c:.3f} vs stable {s:.3f}, drop z={z:.2f} (fails past {t.max_kpi_drop} with z >= {t.kpi_z})"
    return Check("top_tier_conversion", "pass" if ok else "fail", detail)


def conversion_drop_z(canary: SideStats, stable: SideStats) -> float:
    """z of 'canary converts less than stable' (pooled two-proportion test); 0 without outcomes."""
    n1, n2 = canary.top_outcomes, stable.top_outcomes
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (canary.top_conversions + stable.top_conversions) / (n1 + n2)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n1 + 1 / n2))
    return ((stable.conversion or 0.0) - (canary.conversion or 0.0)) / se
