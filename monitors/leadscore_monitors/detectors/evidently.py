"""evidently backend (Apache-2.0): its PSI and KL stattests, KS for numeric, chi-square for categorical.

Stands in for alibi-detect where the BSL licence is not acceptable. evidently bins each feature its
own way (equal-width Sturges bins on reference + window for numeric features, categories otherwise),
so its PSI is close to, not identical with, the reference-bin PSI of the alibi backend. The
multivariate verdict applies the same Bonferroni/FDR correction to the per-feature p-values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, kl_div_stat_test, ks_stat_test, psi_stat_test
from evidently.legacy.core import ColumnType

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

    def __init__(
        self,
        reference: Reference,
        psi_threshold: float = 0.25,
        p_value: float = 0.05,
        correction: Literal["bonferroni", "fdr"] = "bonferroni",
    ) -> None:
        super().__init__(reference, psi_threshold, p_value, correction)
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
                psi, kl, p = self._tests(ref, cur, kind, numeric)
            p_values.append(p)
            out[name] = FeatureDrift(
                feature=name,
                kind="numeric" if numeric else "categorical",
                psi=psi,
                kl=kl,
                test="ks" if numeric else "chi2",
                p_value=p,
            )
        return out, corrected_drift(p_values, self.p_value, self.correction) if window.n else None

    def _tests(self, ref: pd.Series, cur: pd.Series, kind: ColumnType, numeric: bool) -> tuple[float, float, float]:
        psi = float(psi_stat_test(ref, cur, kind, self.psi_threshold).drift_score)
        kl = float(kl_div_stat_test(ref, cur, kind, None).drift_score)
        test = ks_stat_test if numeric else chi_stat_test
        return psi, kl, float(test(ref, cur, kind, self.p_value).drift_score)
