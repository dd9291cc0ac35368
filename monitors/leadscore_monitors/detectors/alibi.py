"""alibi-detect backend: KS per numeric feature, chi-square per categorical, TabularDrift with correction.

PSI and KL come from :mod:`leadscore_monitors.stats` on the reference bins (the base class, both backends).
alibi-detect >= 0.12 is BSL 1.1 licensed; :mod:`leadscore_monitors.detectors.evidently` stands in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from alibi_detect.cd import ChiSquareDrift, KSDrift, TabularDrift
from leadscore_core.settings import DriftThresholds

from leadscore_monitors import stats
from leadscore_monitors.detectors.base import DriftDetector, FeatureDrift, WindowData
from leadscore_monitors.reference import Reference


class AlibiDriftDetector(DriftDetector):
    """Univariate alibi-detect tests fitted on the reference sample in the constructor."""

    backend = "alibi"

    def __init__(self, reference: Reference, thresholds: DriftThresholds | None = None) -> None:
        super().__init__(reference, thresholds)
        p_value = self.thresholds.alpha
        drift = reference.drift
        self._ks: dict[str, KSDrift] = {}
        self._chi: dict[str, ChiSquareDrift] = {}
        self._medians: dict[str, float] = {}
        columns: list[np.ndarray] = []
        cats_per_feature: dict[int, Any] = {}
        for name in reference.features:
            raw = reference.sample[name]
            if name in drift.numeric:
                x = stats.numeric_values(raw)
                present = x[~np.isnan(x)]
                self._medians[name] = float(np.median(present)) if len(present) else 0.0
                if len(present) >= 2:
                    self._ks[name] = KSDrift(present.reshape(-1, 1).astype(np.float32), p_val=p_value)
                columns.append(np.where(np.isnan(x), self._medians[name], x))
            else:
                ref = drift.categorical[name]
                codes = stats.category_codes(ref, [str(v) for v in raw])
                seen = [int(c) for c in np.unique(codes)]
                # categories the reference never saw would give zero expected counts: the tests use the ones
                # it saw; PSI/KL (on all bins) catch mass moving to unseen categories
                self._chi[name] = ChiSquareDrift(codes.reshape(-1, 1), p_val=p_value, categories_per_feature={0: seen})
                cats_per_feature[len(columns)] = seen
                columns.append(codes.astype(np.float64))
        self._tabular = TabularDrift(
            np.column_stack(columns).astype(np.float32),
            p_val=p_value,
            categories_per_feature=cats_per_feature,
            correction=self.test_correction,
        )

    def _matrix(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        cols = []
        for name in self.reference.features:
            x = prepared[name]
            if name in self.reference.drift.numeric:
                x = np.where(np.isnan(x), self._medians[name], x)
            cols.append(x.astype(np.float32))
        return np.column_stack(cols)

    def feature_scores(
        self, window: WindowData, prepared: dict[str, np.ndarray]
    ) -> tuple[dict[str, FeatureDrift], bool | None]:
        out: dict[str, FeatureDrift] = {}
        for name in self.reference.features:
            psi = kl = 0.0  # set on the reference bins by the base class
            x = prepared[name]
            if name in self.reference.drift.numeric:
                present = x[~np.isnan(x)]
                p = d = None
                if name in self._ks and len(present):
                    res = self._ks[name].predict(present.reshape(-1, 1).astype(np.float32))["data"]
                    p, d = _first(res["p_val"]), _first(res["distance"])
                out[name] = FeatureDrift(
                    feature=name, kind="numeric", psi=psi, kl=kl, test="ks", statistic=d, p_value=p
                )
            else:
                p = d = None
                if len(x):
                    res = self._chi[name].predict(x.reshape(-1, 1))["data"]
                    p, d = _first(res["p_val"]), _first(res["distance"])
                out[name] = FeatureDrift(
                    feature=name, kind="categorical", psi=psi, kl=kl, test="chi2", statistic=d, p_value=p
                )
        multivariate = None
        if window.n:
            multivariate = bool(self._tabular.predict(self._matrix(prepared), drift_type="batch")["data"]["is_drift"])
        return out, multivariate


def _first(value: object) -> float:
    return float(np.asarray(value).ravel()[0])
