"""Distribution statistics on the reference bins (numpy only): PSI, KL, feature stats, outliers.

alibi-detect has no PSI, so PSI (:func:`leadscore_core.stats.psi`, shared with the canary analysis) and KL
are computed on the bins stored in the model version's drift reference; the same bins training used, so a
PSI here means what it means in the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from leadscore_core.artifact import CategoricalReference, NumericReference
from leadscore_core.reference import categorical_histogram, numeric_histogram
from leadscore_core.stats import psi as psi  # re-exported: the one PSI, in core
from leadscore_core.stats import smooth
from pydantic import BaseModel


def kl(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """Kullback-Leibler divergence ``KL(actual || expected)`` on the same bins (nats), shares smoothed as
    for PSI (:func:`leadscore_core.stats.smooth`)."""
    e, a = smooth(np.asarray(expected)), smooth(np.asarray(actual))
    return float(np.sum(a * np.log(a / e)))


def as_category(value: Any) -> str | None:
    """Clean value -> the category label the reference uses (booleans as ``true``/``false``)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    s = str(value)
    # reference samples store booleans as str(bool)
    return s.lower() if s in ("True", "False") else s


def histogram(ref: NumericReference | CategoricalReference, values: Sequence[Any]) -> np.ndarray:
    """Shares of ``values`` in the layout of ``ref.freq`` (bins, then missing)."""
    if isinstance(ref, NumericReference):
        return numeric_histogram(ref, values)
    return categorical_histogram(ref.categories, [as_category(v) for v in values])


class FeatureStats(BaseModel):
    """Summary of one numeric feature in a window."""

    count: int
    mean: float | None
    std: float | None
    missing_rate: float
    outliers_iqr: int
    """Values outside [q1 - 1.5 IQR, q3 + 1.5 IQR] of the reference."""
    outliers_z: int
    """Values more than ``z`` reference standard deviations from the reference mean."""


def numeric_stats(ref: NumericReference, values: Sequence[Any] | np.ndarray, z: float = 4.0) -> FeatureStats:
    """Mean, std, missing rate and outlier counts (IQR and z-score against the reference)."""
    x = numeric_values(values)
    present = x[~np.isnan(x)]
    n = len(x)
    iqr = ref.q3 - ref.q1
    lo, hi = ref.q1 - 1.5 * iqr, ref.q3 + 1.5 * iqr
    out_iqr = int(np.sum((present < lo) | (present > hi))) if iqr > 0 else 0
    out_z = int(np.sum(np.abs(present - ref.mean) > z * ref.std)) if ref.std > 0 else 0
    return FeatureStats(
        count=n,
        mean=float(present.mean()) if len(present) else None,
        std=float(present.std()) if len(present) else None,
        missing_rate=float(n - len(present)) / n if n else 0.0,
        outliers_iqr=out_iqr,
        outliers_z=out_z,
    )


def missing_rate(values: Sequence[Any]) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if as_category(v) is None) / len(values)


def category_codes(ref: CategoricalReference, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Integer codes in the reference vocabulary: unknown -> ``__other__``, missing (None or "") -> last.

    Vectorised over the distinct values, so a 5,000-lead window costs a few milliseconds.
    """
    index = {c: i for i, c in enumerate(ref.categories)}
    other = index.get("__other__", len(ref.categories) - 1)
    missing = len(ref.categories)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, inverse = np.unique(np.asarray([_key(v) for v in values], dtype=str), return_inverse=True)
    lut = np.empty(len(uniq), dtype=np.int64)
    for i, u in enumerate(uniq):
        c = None if u in ("", _NONE) else as_category(str(u))
        lut[i] = missing if c is None else index.get(c, other)
    return lut[inverse]


_NONE = "\x00none"


def _key(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return _NONE
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    return str(v)


def numeric_values(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Float64 array with NaN for missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64)
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def numeric_shares(ref: NumericReference, x: np.ndarray) -> np.ndarray:
    """Shares of float values (NaN = missing) in the reference bins, layout of ``ref.freq``."""
    present = x[~np.isnan(x)]
    counts = np.bincount(np.searchsorted(ref.edges, present, side="left"), minlength=len(ref.edges) + 1)
    return np.append(counts, len(x) - len(present)).astype(np.float64) / max(len(x), 1)


def code_shares(ref: CategoricalReference, codes: np.ndarray) -> np.ndarray:
    """Shares of category codes (see :func:`category_codes`), layout of ``ref.freq``."""
    return np.bincount(codes, minlength=len(ref.categories) + 1).astype(np.float64) / max(len(codes), 1)


def chi2_shares(
    ref_shares: Sequence[float] | np.ndarray, n_ref: int, shares: Sequence[float] | np.ndarray, n: int
) -> float:
    """p-value of the two-sample chi-square test of two share vectors on the same bins (counts = share * n).

    Bins empty in both samples are dropped; with fewer than two bins left (or an empty sample) the
    samples cannot differ and the p-value is 1.
    """
    from scipy.stats import chi2

    a = np.asarray(ref_shares, dtype=np.float64) * n_ref
    b = np.asarray(shares, dtype=np.float64) * n
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    if len(a) < 2 or a.sum() <= 0 or b.sum() <= 0:
        return 1.0
    total = a + b
    ea, eb = total * a.sum() / total.sum(), total * b.sum() / total.sum()
    stat = float(np.sum((a - ea) ** 2 / ea) + np.sum((b - eb) ** 2 / eb))
    return float(chi2.sf(stat, len(a) - 1))


def mix_shares(labels: Sequence[str | None], vocab: Sequence[str]) -> np.ndarray:
    """Shares of ``labels`` over ``vocab`` (labels outside it, or None, are not counted)."""
    index = {c: i for i, c in enumerate(vocab)}
    counts = np.zeros(len(vocab), dtype=np.float64)
    for v in labels:
        if v is not None and v in index:
            counts[index[v]] += 1
    return counts / max(counts.sum(), 1.0)
