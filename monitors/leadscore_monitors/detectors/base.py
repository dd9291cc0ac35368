"""The detector interface: built from the model version's reference, ``score`` apart from ``predict``.

A backend (alibi-detect or evidently) implements :meth:`DriftDetector.feature_scores` (its tests'
p-values); the base class computes PSI/KL on the reference bins whatever the backend (so switching
backends never changes which alerts fire), the score-distribution drift, feature statistics and
outliers, new categories, the top-reason mix and the bias figures; :meth:`DriftDetector.predict`
applies :func:`leadscore_monitors.verdict.judge`. Results are typed (pydantic), never nested dicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from leadscore_core.settings import DriftThresholds

from leadscore_monitors import parity, stats
from leadscore_monitors.detectors.results import (
    BiasGroup,
    DriftResult,
    DriftScores,
    FeatureDrift,
    ReasonMix,
)
from leadscore_monitors.reference import Reference

__all__ = ["BiasGroup", "DriftDetector", "DriftResult", "DriftScores", "FeatureDrift", "ReasonMix", "WindowData"]


@dataclass
class WindowData:
    """The leads of one window, column-wise (clean values by feature name) plus their scores."""

    columns: dict[str, list[Any]] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    """Calibrated probabilities of the window's leads that have a logged response."""
    matrix: np.ndarray | None = None
    """Alternative to ``columns``: rows already encoded by :meth:`DriftDetector.encode` (the service
    encodes each lead when it arrives, so judging a window is only the statistics)."""
    row_scores: np.ndarray | None = None
    """Probability per row (NaN = no logged response), aligned with the rows: bias parity needs it."""
    row_tiers: list[str | None] | None = None
    """Tier per row, aligned with the rows (default: from the probability and the artifact's cut-offs)."""
    row_reasons: list[str | None] | None = None
    """Top reason (feature name) per row, aligned with the rows."""

    @property
    def n(self) -> int:
        if self.matrix is not None:
            return int(self.matrix.shape[0])
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @classmethod
    def from_records(cls, features: Sequence[str], records: Sequence[Mapping[str, Any]], scores: Sequence[float]):
        return cls(columns={f: [r.get(f) for r in records] for f in features}, scores=list(scores))


class DriftDetector(ABC):
    """A window drift detector fitted on a reference in its constructor.

    Args:
        reference: the serving model version's drift reference.
        thresholds: every threshold of the verdict (default: ``LEADSCORE_DRIFT_*`` settings).
    """

    backend: str = "base"

    def __init__(self, reference: Reference, thresholds: DriftThresholds | None = None) -> None:
        self.reference = reference
        self.thresholds = thresholds or DriftThresholds()

    @property
    def test_correction(self) -> Literal["bonferroni", "fdr"]:
        """The backend's multivariate correction matching the verdict's (Holm -> Bonferroni, BH -> FDR)."""
        return "bonferroni" if self.thresholds.correction == "holm" else "fdr"

    def get_config(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model_name": self.reference.model_name,
            "model_version": self.reference.model_version,
            "thresholds": self.thresholds.model_dump(),
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
        for name, fd in features.items():  # PSI/KL always on the project's reference bins
            expected, actual = self.bin_shares(name, prepared)
            fd.psi, fd.kl = stats.psi(expected, actual), stats.kl(expected, actual)
            if name in self.reference.drift.categorical:
                fd.new_values = self._new_values(name, expected, actual, window.n)
        drift = self.reference.drift
        out = DriftScores(backend=self.backend, n=window.n, features=features, multivariate_drift=multivariate)
        if drift.score is not None and window.scores:
            actual = stats.numeric_shares(drift.score, np.asarray(window.scores, dtype=np.float64))
            out.score_psi = stats.psi(drift.score.freq, actual)
            out.score_kl = stats.kl(drift.score.freq, actual)
            out.score_p_value = stats.chi2_shares(drift.score.freq, drift.n_reference, actual, len(window.scores))
        for name in self.reference.numeric:
            out.stats[name] = stats.numeric_stats(drift.numeric[name], prepared[name])
        for name in self.reference.features:
            x = prepared[name]
            n_missing = (
                np.isnan(x).sum() if name in drift.numeric else (x == len(drift.categorical[name].categories)).sum()
            )
            out.missing_rates[name] = float(n_missing) / len(x) if len(x) else 0.0
        if window.row_reasons is not None:
            out.reasons = parity.reason_mix(self.reference, window.row_reasons)
        if window.row_scores is not None:
            out.bias = parity.bias_groups(self.reference, prepared, window, self.thresholds.bias_min_group)
        return out

    def _new_values(self, name: str, expected: list[float], actual: np.ndarray, n: int) -> list[str]:
        """Categories with no reference share that now hold a visible share of the window."""
        t = self.thresholds
        cats = self.reference.drift.categorical[name].categories
        return [
            c
            for c, e, a in zip(cats, expected[: len(cats)], actual[: len(cats)], strict=True)
            if e <= 0 and a >= t.new_value_min_share and a * n >= t.new_value_min_count
        ]

    def predict(self, window: WindowData) -> DriftResult:
        """Score ``window`` and apply the verdict (:func:`leadscore_monitors.verdict.judge`)."""
        from leadscore_monitors.verdict import judge

        return judge(self.reference.spec, self.score(window), self.thresholds)


def build_detector(
    backend: Literal["alibi", "evidently"], reference: Reference, thresholds: DriftThresholds | None = None
) -> DriftDetector:
    """Instantiate a backend by name (the import happens only for the chosen one)."""
    if backend == "alibi":
        from leadscore_monitors.detectors.alibi import AlibiDriftDetector

        return AlibiDriftDetector(reference, thresholds)
    if backend == "evidently":
        from leadscore_monitors.detectors.evidently import EvidentlyDriftDetector

        return EvidentlyDriftDetector(reference, thresholds)
    raise ValueError(f"unknown drift backend {backend!r} (alibi or evidently)")
