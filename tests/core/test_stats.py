"""The shared statistics (leadscore_core.stats): PSI on common bins and the rank-sum ROC-AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from leadscore_core.stats import PSI_EPS, auc, average_ranks, psi


@pytest.mark.parametrize(("n", "seed", "decimals"), [(50, 0, 1), (400, 1, 2), (3000, 2, 3)])
def test_auc_matches_sklearn_with_ties(n: int, seed: int, decimals: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.round(rng.random(n) * 0.5 + y * 0.2, decimals)  # rounding makes ties
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert auc(list(y), list(p)) == pytest.approx(roc_auc_score(y, p))


def test_auc_edges() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([1, 0, 1, 0], [0.5] * 4) == 0.5
    assert auc([1, 1], [0.1, 0.2]) is None and auc([], []) is None
    with pytest.raises(ValueError, match="one score per label"):
        auc([0, 1, 1], [0.1, 0.2])


@pytest.mark.parametrize("seed", [0, 1])
def test_average_ranks_match_scipy(seed: int) -> None:
    v = np.random.default_rng(seed).integers(0, 20, 500).astype(float)
    assert np.allclose(average_ranks(v), rankdata(v))


def test_psi_known_value_and_symmetry_of_zero() -> None:
    e, a = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(e, a) == pytest.approx(expected)
    assert psi(a, e) == pytest.approx(expected)  # PSI is symmetric
    assert psi(e, e) == 0.0


@pytest.mark.parametrize("scale", [1.0, 37.0, 1000.0])
def test_psi_of_counts_is_psi_of_shares(scale: float) -> None:
    shares_e, shares_a = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(shares_e * scale, shares_a * 3 * scale) == pytest.approx(psi(shares_e, shares_a))


def test_empty_bins_stay_finite_and_shapes_must_match() -> None:
    value = psi([100, 0, 0], [0, 0, 100])
    assert math.isfinite(value) and value > math.log(1 / PSI_EPS)
    assert psi([0, 0], [0, 0]) == 0.0
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])
