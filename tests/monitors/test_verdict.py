"""The drift verdict on the project's own generator: no drift stays quiet, each drift kind is named.

A reference model is made from generator leads the way training makes one
(:func:`leadscore.datagen.frames.build_reference`); windows are drawn with other seeds, sizes and drift
kinds and judged by ``DriftDetector.predict``, the function the service applies to each window.
``bench/drift_power.py`` measures the same verdict's error rates over many more seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadscore.datagen.frames import MOVED, Frame, build_reference, clean_frame
from leadscore_core.artifact import LeadScorer
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.settings import DriftThresholds
from leadscore_monitors.detectors.base import DriftDetector, WindowData, build_detector
from leadscore_monitors.outcome import auc, calibration_p_value, concept_drift
from leadscore_monitors.reference import load_reference
from leadscore_monitors.verdict import adjust


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return load_spec("crm_freezone")


@pytest.fixture(scope="module")
def model(spec: FeatureSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    return build_reference(spec, tmp_path_factory.mktemp("verdict") / "model", n=12_000)


@pytest.fixture(scope="module")
def detector(model: tuple[Path, float]) -> DriftDetector:
    return build_detector("alibi", load_reference(model[0]))


def window(model_dir: Path, frame: Frame) -> WindowData:
    """The frame as the drift service sees it: clean values plus each lead's probability, tier, top reason."""
    scorer = LeadScorer(model_dir).load()
    assert scorer.encoder is not None
    batch = scorer.score(scorer.encoder.encode_columns(frame.columns, frame.n), explain=True, approx=True)
    assert batch.contributions is not None
    names = scorer.encoder.feature_names
    return WindowData(
        columns={k: v.tolist() for k, v in frame.columns.items()},
        scores=batch.probability.tolist(),
        row_scores=batch.probability,
        row_tiers=list(batch.tier),
        row_reasons=[names[j] for j in np.argmax(np.abs(batch.contributions), axis=1)],
    )


def shuffled(spec: FeatureSpec, seed: int, n: int, drift: str | None = None, strength: float = 0.5) -> Frame:
    frame = clean_frame(spec, seed, n, drift, strength)
    return frame.take(np.random.default_rng(seed).permutation(n))


def test_holm_and_bh_adjusted_p_values() -> None:
    p = {"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.2}
    assert adjust(p, "holm") == pytest.approx({"a": 0.04, "c": 0.09, "b": 0.09, "d": 0.2})
    assert adjust(p, "bh") == pytest.approx({"a": 0.04, "c": 0.16 / 3, "b": 0.16 / 3, "d": 0.2})
    assert adjust({}, "holm") == {}


@pytest.mark.parametrize(("seed", "n"), [(31, 500), (32, 2000), (33, 5000), (34, 5000)])
def test_undrifted_windows_give_no_drift(
    spec: FeatureSpec, model: tuple[Path, float], detector: DriftDetector, seed: int, n: int
) -> None:
    result = detector.predict(window(model[0], shuffled(spec, seed, n)))
    assert result.drifted_features == []
    assert not result.score_drift and not result.reason_drift
    assert result.is_drift is False
    assert "campaign" not in result.drifted_features  # the calendar feature never triggers a retrain


@pytest.mark.parametrize(
    ("kind", "seed"), [("source_mix", 41), ("source_mix", 42), ("engagement", 43), ("engagement", 44)]
)
def test_input_drift_at_half_strength_named_on_its_feature(
    spec: FeatureSpec, model: tuple[Path, float], detector: DriftDetector, kind: str, seed: int
) -> None:
    result = detector.predict(window(model[0], shuffled(spec, seed, 2000, kind, 0.5)))
    assert result.is_drift
    assert set(result.drifted_features) & set(MOVED[kind]), result.drifted_features
    fd = result.features[next(f for f in result.drifted_features if f in MOVED[kind])]
    assert fd.psi >= fd.threshold and fd.p_adjusted < 0.05  # type: ignore[operator]


def test_concept_drift_moves_no_input_and_is_seen_on_the_outcome_path(
    spec: FeatureSpec, model: tuple[Path, float], detector: DriftDetector
) -> None:
    t = DriftThresholds()
    for drift, expected in ((None, False), ("concept", True)):
        frame = shuffled(spec, 51, 5000, drift, 0.5)
        w = window(model[0], frame)
        assert detector.predict(w).is_drift is False  # the inputs did not move
        y = frame.converted.astype(int)
        realised = auc(y, w.scores)
        cal = calibration_p_value(w.scores, y)
        assert concept_drift(realised, int(y.sum()), int(len(y) - y.sum()), model[1], t, cal) is expected


def test_new_campaign_reported_as_new_and_never_a_retrain(
    spec: FeatureSpec, model: tuple[Path, float], detector: DriftDetector
) -> None:
    frame = shuffled(spec, 61, 2000)
    campaign = frame.columns["campaign"].copy()
    campaign[:150] = "black_friday"  # not in the contract: the monitor sees it as __other__
    frame.columns["campaign"] = campaign
    result = detector.predict(window(model[0], frame))
    assert "__other__" in result.new_values["campaign"]
    assert "campaign" in result.seasonal_drift
    assert result.features["campaign"].new_values == result.new_values["campaign"]
    assert result.features["campaign"].seasonality == "calendar" and not result.features["campaign"].drifted
    assert result.is_drift is False


def test_later_season_reports_campaign_without_retrain(spec: FeatureSpec, detector: DriftDetector) -> None:
    # reference: the first ~4 months of the calendar; leads of months 11-12 bring year_end, never seen in training
    frame = clean_frame(spec, 71, 12_000, months=12)
    late = frame.take(np.flatnonzero(frame.created_s >= frame.created_s.min() + 300 * 86_400))
    assert late.n > 1000
    result = detector.predict(WindowData(columns={k: v.tolist() for k, v in late.columns.items()}))
    assert "year_end" in result.new_values["campaign"]
    assert result.seasonal_drift == ["campaign"] and result.features["campaign"].psi >= 0.1
    assert result.drifted_features == [] and result.is_drift is False


def test_psi_is_the_projects_whatever_the_backend(
    spec: FeatureSpec, model: tuple[Path, float], detector: DriftDetector
) -> None:
    w = window(model[0], shuffled(spec, 81, 1000, "source_mix", 1.0))
    other = build_detector("evidently", detector.reference)
    a, b = detector.predict(w), other.predict(w)
    for name in a.features:
        assert a.features[name].psi == pytest.approx(b.features[name].psi)
    assert a.drifted_features[:1] == b.drifted_features[:1] == ["lead_source"]
