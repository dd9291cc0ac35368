"""PSI / KL on reference bins and the vectorised category codes."""

from __future__ import annotations

import numpy as np
import pytest

from leadscore_core.artifact import CategoricalReference
from leadscore_core.reference import numeric_histogram, numeric_reference
from leadscore_monitors import stats


def test_psi_and_kl_zero_for_identical_and_grow_with_shift() -> None:
    e = np.array([0.25, 0.25, 0.25, 0.25])
    assert stats.psi(e, e) == pytest.approx(0.0)
    assert stats.kl(e, e) == pytest.approx(0.0)
    small, big = np.array([0.3, 0.25, 0.25, 0.2]), np.array([0.7, 0.1, 0.1, 0.1])
    assert 0 < stats.psi(e, small) < stats.psi(e, big)
    assert stats.kl(e, big) > 0


def test_psi_known_value() -> None:
    e, a = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert stats.psi(e, a) == pytest.approx(expected, rel=1e-3)


def test_numeric_shares_match_core_histogram() -> None:
    rng = np.random.default_rng(0)
    ref = numeric_reference(rng.normal(size=1000))
    x = np.append(rng.normal(0.5, 1, 300), [np.nan] * 7)
    assert stats.numeric_shares(ref, x) == pytest.approx(numeric_histogram(ref, list(x)))


def test_category_codes_unknown_missing_and_booleans() -> None:
    ref = CategoricalReference(categories=["a", "b", "__other__"], freq=[0.5, 0.3, 0.1, 0.1], missing_rate=0.1)
    codes = stats.category_codes(ref, ["a", "b", "zzz", None, "", "a"])
    assert codes.tolist() == [0, 1, 2, 3, 3, 0]
    bref = CategoricalReference(categories=["false", "true", "__other__"], freq=[0.5, 0.5, 0, 0], missing_rate=0)
    assert stats.category_codes(bref, [True, False, "True", None]).tolist() == [1, 0, 1, 3]
