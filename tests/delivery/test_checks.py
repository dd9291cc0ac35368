"""The judgement of one interval, on hand-built numbers (the Prometheus side is in test_analysis.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leadscore.delivery.checks import SideStats, judge, psi_from_buckets
from leadscore_core.settings import CanaryThresholds

BOUNDS = [10.0 * i for i in range(1, 11)] + [math.inf]


def cumulative(counts: list[float]) -> list[tuple[float, float]]:
    return list(zip(BOUNDS, np.cumsum(counts).tolist(), strict=True))


def side(version: int, requests: float = 1000, errors: float = 1, p99: float | None = 0.05, **kw) -> SideStats:  # noqa: ANN003
    scores = kw.get("scores", [100.0] * 10 + [0.0])
    return SideStats(version, requests, errors, p99, cumulative(scores), kw.get("outcomes", 0), kw.get("conv", 0))


def test_psi_matches_the_formula_and_is_symmetric_in_sign() -> None:
    a, b = [50.0, 30.0, 20.0], [30.0, 30.0, 40.0]
    e = list(zip([1.0, 2.0, math.inf], np.cumsum(a).tolist(), strict=True))
    c = list(zip([1.0, 2.0, math.inf], np.cumsum(b).tolist(), strict=True))
    p, q = np.array(a) / 100, np.array(b) / 100
    assert psi_from_buckets(e, c) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi_from_buckets(e, e) == 0.0
    assert psi_from_buckets(e, c) == pytest.approx(psi_from_buckets(c, e))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psi_of_two_samples_of_one_distribution_is_small(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h = [np.histogram(rng.beta(2, 5, 3000) * 100, bins=[0, *BOUNDS[:-1]])[0].tolist() + [0] for _ in range(2)]
    assert psi_from_buckets(cumulative(h[0]), cumulative(h[1])) < 0.05


def test_an_empty_bin_does_not_make_psi_infinite() -> None:
    assert math.isfinite(psi_from_buckets(cumulative([100] * 10 + [0]), cumulative([0] * 9 + [1000, 0])))


def test_different_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="different buckets"):
        psi_from_buckets([(1.0, 1.0), (math.inf, 2.0)], [(2.0, 1.0), (math.inf, 2.0)])


@pytest.mark.parametrize(("canary_requests", "stable_requests"), [(199, 5000), (5000, 10), (0, 0)])
def test_quiet_windows_wait(canary_requests: float, stable_requests: float) -> None:
    v = judge(side(2, canary_requests, errors=canary_requests), side(1, stable_requests), CanaryThresholds())
    assert v.status == "wait" and v.checks[0].name == "samples"


def test_each_check_fails_on_its_own() -> None:
    t = CanaryThresholds()
    assert judge(side(2), side(1), t).status == "pass"
    assert judge(side(2, errors=20), side(1), t).failed == ["success_rate"]
    assert judge(side(2, p99=0.25), side(1), t).failed == ["p99_latency"]
    shifted = [0.0] * 5 + [200.0] * 5 + [0.0]
    assert judge(side(2, scores=shifted), side(1), t).failed == ["score_psi"]
    assert judge(side(2, outcomes=400, conv=100), side(1, outcomes=400, conv=200), t).failed == ["top_tier_conversion"]


def test_kpi_waits_for_outcomes_and_ignores_noise() -> None:
    t = CanaryThresholds()
    few = judge(side(2, outcomes=50, conv=0), side(1, outcomes=50, conv=50), t)
    assert few.status == "pass" and few.checks[-1].status == "skip"
    # 0.44 vs 0.50 on 150 each: over the margin but not significant -> not a rollback
    noisy = judge(side(2, outcomes=150, conv=66), side(1, outcomes=150, conv=75), t)
    assert noisy.status == "pass"
