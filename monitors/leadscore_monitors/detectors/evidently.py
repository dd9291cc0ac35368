"""evidently backend (Apache-2.0): its KS stattest for numeric features, chi-square for categorical.

Stands in for alibi-detect where the BSL licence is not acceptable. PSI and KL are NOT evidently's
(which bins each feature its own way): the base class computes them on the model version's reference
bins, so both backends give the same PSI and switching backends never changes which alerts fire. The
multivariate verdict applies the same Bonferroni/FDR correction to the per-feature p-values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, ks_stat_test
from evidently.legacy.core import ColumnType
from leadscore_core.settings import DriftThresholds

from leadscore_monitors.detectors.base import DriftDetector, FeatureDrift, WindowData
from leadscore_monitors.reference import Reference

MISSING = "__missing__"


def corrected_drift(p_values: list[float], p_val: float, correction: Literal["bonferroni", "fdr"]) -> bool:
    """Any feature drifts after the multiple-testing correction (Bonferroni or Benjamini-Hochberg)."""
    if not p_values:
        return False
    p = np.sort(np.asarray(p_values))
    n = len(p)
    if correction == "bonferroni":
        return bool(p[0] < p_val / n)
    return bool(np.any(p <= p_val * np.arange(1, n + 1) / n))


class EvidentlyDriftDetector(DriftDetector):
    """Per-feature evidently stattests against the reference sample."""

    backend = "evidently"

    def __init__(self, reference: Reference, thresholds: DriftThresholds | None = None) -> None:
        super().__init__(reference, thresholds)
        sample = WindowData(columns={f: list(reference.sample[f]) for f in reference.features})
        prepared = self.prepare(sample)
        self._ref: dict[str, pd.Series] = {f: self._current(f, prepared[f]) for f in reference.features}

    def _current(self, name: str, x: np.ndarray) -> pd.Series:
        drift = self.reference.drift
        if name in drift.numeric:
            return pd.Series(x[~np.isnan(x)])
        labels = np.asarray([*drift.categorical[name].categories, MISSING], dtype=object)
        return pd.Series(labels[x], dtype=object)

    def feature_scores(
        self, window: WindowData, prepared: dict[str, np.ndarray]
    ) -> tuple[dict[str, FeatureDrift], bool | None]:
        out: dict[str, FeatureDrift] = {}
        p_values: list[float] = []
        for name in self.reference.features:
            ref = self._ref[name]
            cur = self._current(name, prepared[name])
            numeric = name in self.reference.drift.numeric
            kind = ColumnType.Numerical if numeric else ColumnType.Categorical
            if len(cur) == 0 or len(ref) == 0:
                out[name] = FeatureDrift(
                    feature=name,
                    kind="numeric" if numeric else "categorical",
                    psi=0.0,
                    kl=0.0,
                    test="ks" if numeric else "chi2",
                )
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                test = ks_stat_test if numeric else chi_stat_test
                p = float(test(ref, cur, kind, self.thresholds.alpha).drift_score)
            p_values.append(p)
            out[name] = FeatureDrift(
                feature=name,
                kind="numeric" if numeric else "categorical",
                psi=0.0,  # set on the reference bins by the base class
                kl=0.0,
                test="ks" if numeric else "chi2",
                p_value=p,
            )
        return out, corrected_drift(p_values, self.thresholds.alpha, self.test_correction) if window.n else None
