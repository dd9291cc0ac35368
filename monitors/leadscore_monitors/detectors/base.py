"""The detector interface: built from the model version's reference, ``score`` apart from ``predict``.

A backend (alibi-detect or evidently) implements :meth:`DriftDetector.feature_scores`; the base class
adds the score-distribution drift, feature statistics and outliers, and :meth:`DriftDetector.predict`
applies the thresholds. Results are typed (pydantic), never nested dicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from leadscore_monitors import stats
from leadscore_monitors.reference import Reference
from leadscore_monitors.stats import FeatureStats


@dataclass
class WindowData:
    """The leads of one window, column-wise (clean values by feature name) plus their scores."""

    columns: dict[str, list[Any]] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    """Calibrated probabilities of the window's leads that have a logged response."""
    matrix: np.ndarray | None = None
    """Alternative to ``columns``: rows already encoded by :meth:`DriftDetector.encode` (the service
    encodes each lead when it arrives, so judging a window is only the statistics)."""

    @property
    def n(self) -> int:
        if self.matrix is not None:
            return int(self.matrix.shape[0])
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @classmethod
    def from_records(cls, features: Sequence[str], records: Sequence[Mapping[str, Any]], scores: Sequence[float]):
        return cls(columns={f: [r.get(f) for r in records] for f in features}, scores=list(scores))


class FeatureDrift(BaseModel):
    """Drift statistics of one feature in one window."""

    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float
    """Population stability index vs the reference."""
    kl: float
    """KL(window || reference) in nats."""
    test: Literal["ks", "chi2"]
    statistic: float | None = None
    """KS distance or chi-square statistic."""
    p_value: float | None = None
    """Uncorrected p-value of the test (None when the window has no value for the feature)."""
    drifted: bool = False
    """Set by :meth:`DriftDetector.predict`: PSI above the threshold."""


class DriftScores(BaseModel):
    """What :meth:`DriftDetector.score` measures, before any threshold."""

    backend: str
    n: int
    features: dict[str, FeatureDrift]
    multivariate_drift: bool | None = None
    """TabularDrift-style verdict over all features with the multiple-testing correction."""
    score_psi: float | None = None
    score_kl: float | None = None
    stats: dict[str, FeatureStats] = Field(default_factory=dict)
    """Numeric feature statistics and outlier counts."""
    missing_rates: dict[str, float] = Field(default_factory=dict)


class DriftResult(DriftScores):
    """Thresholded verdict of one window."""

    threshold: float
    drifted_features: list[str]
    is_drift: bool
    score_drift: bool = False


class DriftDetector(ABC):
    """A window drift detector fitted on a reference in its constructor.

    Args:
        reference: the serving model version's drift reference.
        psi_threshold: a feature drifts when its PSI exceeds this.
        p_value: significance of the per-feature tests.
        correction: multiple-testing correction of the multivariate verdict.
    """

    backend: str = "base"

    def __init__(
        self,
        reference: Reference,
        psi_threshold: float = 0.25,
        p_value: float = 0.05,
        correction: Literal["bonferroni", "fdr"] = "bonferroni",
    ) -> None:
        self.reference = reference
        self.psi_threshold = psi_threshold
        self.p_value = p_value
        self.correction = correction

    def get_config(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model_name": self.reference.model_name,
            "model_version": self.reference.model_version,
            "psi_threshold": self.psi_threshold,
            "p_value": self.p_value,
            "correction": self.correction,
        }

    def encode(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Leads -> float64 matrix in :attr:`Reference.features` order: numeric value (NaN = missing) or
        reference category code (same codes as :func:`leadscore_monitors.stats.category_codes`).

        A plain loop with per-feature lookup tables: the service encodes each lead on arrival (one or
        a few per event), where vectorising would cost more than it saves.
        """
        if len(records) > 256:
            prepared = self.prepare(WindowData.from_records(self.reference.features, records, []))
            return np.column_stack([prepared[f].astype(np.float64) for f in self.reference.features])
        out = np.empty((len(records), len(self.reference.features)), dtype=np.float64)
        for i, r in enumerate(records):
            for j, (name, lut) in enumerate(self._luts):
                v = r.get(name)
                if lut is None:
                    out[i, j] = np.nan if v is None else float(v)
                else:
                    code: int | None
                    if v is None:
                        code = len(lut)
                    elif isinstance(v, bool):
                        code = lut.get("true" if v else "false")
                    else:
                        code = lut.get(v) if isinstance(v, str) else None
                    if code is None:
                        code = int(stats.category_codes(self.reference.drift.categorical[name], [v])[0])
                    out[i, j] = code
        return out

    @property
    def _luts(self) -> list[tuple[str, dict[str, int] | None]]:
        cached = getattr(self, "_lut_cache", None)
        if cached is None:
            drift = self.reference.drift
            cached = []
            for name in self.reference.features:
                if name in drift.numeric:
                    cached.append((name, None))
                else:
                    cats = drift.categorical[name].categories
                    cached.append((name, {c: i for i, c in enumerate(cats)}))
            self._lut_cache = cached
        return cached

    def prepare(self, window: WindowData) -> dict[str, np.ndarray]:
        """Window columns as arrays once: float64 with NaN (numeric), reference category codes (others)."""
        drift = self.reference.drift
        out: dict[str, np.ndarray] = {}
        if window.matrix is not None:
            for j, name in enumerate(self.reference.features):
                col = window.matrix[:, j]
                out[name] = col.astype(np.float64) if name in drift.numeric else col.astype(np.int64)
            return out
        for name in self.reference.features:
            values = window.columns.get(name, [None] * window.n)
            if name in drift.numeric:
                out[name] = stats.numeric_values(values)
            else:
                out[name] = stats.category_codes(drift.categorical[name], values)
        return out

    def bin_shares(self, name: str, prepared: dict[str, np.ndarray]) -> tuple[list[float], np.ndarray]:
        """(reference shares, window shares) of ``name`` on the reference bins."""
        drift = self.reference.drift
        if name in drift.numeric:
            return drift.numeric[name].freq, stats.numeric_shares(drift.numeric[name], prepared[name])
        return drift.categorical[name].freq, stats.code_shares(drift.categorical[name], prepared[name])

    @abstractmethod
    def feature_scores(
        self, window: WindowData, prepared: dict[str, np.ndarray]
    ) -> tuple[dict[str, FeatureDrift], bool | None]:
        """Per-feature PSI, KL and test p-values, and the corrected multivariate verdict."""

    def score(self, window: WindowData) -> DriftScores:
        """Measure drift of ``window`` against the reference (no threshold applied)."""
        prepared = self.prepare(window)
        features, multivariate = self.feature_scores(window, prepared)
        drift = self.reference.drift
        out = DriftScores(backend=self.backend, n=window.n, features=features, multivariate_drift=multivariate)
        if drift.score is not None and window.scores:
            actual = stats.numeric_shares(drift.score, np.asarray(window.scores, dtype=np.float64))
            out.score_psi = stats.psi(drift.score.freq, actual)
            out.score_kl = stats.kl(drift.score.freq, actual)
        for name in self.reference.numeric:
            out.stats[name] = stats.numeric_stats(drift.numeric[name], prepared[name])
        for name in self.reference.features:
            x = prepared[name]
            n_missing = (
                np.isnan(x).sum() if name in drift.numeric else (x == len(drift.categorical[name].categories)).sum()
            )
            out.missing_rates[name] = float(n_missing) / len(x) if len(x) else 0.0
        return out

    def predict(self, window: WindowData) -> DriftResult:
        """Score ``window`` and apply the thresholds (PSI per feature, PSI of the score)."""
        scores = self.score(window)
        drifted = []
        for name, fd in scores.features.items():
            fd.drifted = fd.psi > self.psi_threshold
            if fd.drifted:
                drifted.append(name)
        score_drift = scores.score_psi is not None and scores.score_psi > self.psi_threshold
        return DriftResult(
            **scores.model_dump(exclude={"features", "stats"}),
            features=scores.features,
            stats=scores.stats,
            threshold=self.psi_threshold,
            drifted_features=drifted,
            is_drift=bool(drifted) or score_drift,
            score_drift=score_drift,
        )


def build_detector(
    backend: Literal["alibi", "evidently"],
    reference: Reference,
    psi_threshold: float = 0.25,
    p_value: float = 0.05,
    correction: Literal["bonferroni", "fdr"] = "bonferroni",
) -> DriftDetector:
    """Instantiate a backend by name (the import happens only for the chosen one)."""
    if backend == "alibi":
        from leadscore_monitors.detectors.alibi import AlibiDriftDetector

        return AlibiDriftDetector(reference, psi_threshold, p_value, correction)
    if backend == "evidently":
        from leadscore_monitors.detectors.evidently import EvidentlyDriftDetector

        return EvidentlyDriftDetector(reference, psi_threshold, p_value, correction)
    raise ValueError(f"unknown drift backend {backend!r} (alibi or evidently)")
