"""Both drift backends, real alibi-detect and real evidently, on windows of synthetic leads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadscore_monitors.detectors.base import DriftDetector, WindowData, build_detector
from leadscore_monitors.reference import load_reference
from leadscore_monitors.testkit.synth import make_records


@pytest.fixture(scope="module", params=["alibi", "evidently"])
def detector(request: pytest.FixtureRequest, artifact: Path) -> DriftDetector:
    return build_detector(request.param, load_reference(artifact))


def window(detector: DriftDetector, n: int, seed: int, drift: str | None = None) -> WindowData:
    return WindowData.from_records(detector.reference.features, make_records(n, seed, drift), [])


def test_undrifted_window_names_no_feature(detector: DriftDetector) -> None:
    result = detector.predict(window(detector, 600, seed=11))
    assert result.drifted_features == []
    assert all(fd.psi < 0.25 for fd in result.features.values())


@pytest.mark.parametrize(("knob", "feature"), [("source_mix", "lead_source"), ("engagement", "web_visits")])
def test_drifted_window_names_exactly_the_drifted_feature(detector: DriftDetector, knob: str, feature: str) -> None:
    result = detector.predict(window(detector, 600, seed=12, drift=knob))
    assert result.drifted_features == [feature]
    assert result.features[feature].psi > 0.25
    assert result.features[feature].p_value is not None and result.features[feature].p_value < 1e-6
    assert result.multivariate_drift is True
    assert result.is_drift


def test_score_separate_from_predict(detector: DriftDetector) -> None:
    w = window(detector, 300, seed=13, drift="source_mix")
    scores = detector.score(w)
    assert not hasattr(scores, "drifted_features")
    assert scores.features["lead_source"].drifted is False  # no threshold applied by score()
    assert scores.stats["web_visits"].count == 300
    assert 0.0 <= scores.missing_rates["web_visits"] <= 0.2


def test_encoded_window_matches_column_window(detector: DriftDetector) -> None:
    records = make_records(400, 14, "source_mix")
    by_cols = detector.predict(WindowData.from_records(detector.reference.features, records, []))
    by_matrix = detector.predict(WindowData(matrix=detector.encode(records)))
    assert by_cols.drifted_features == by_matrix.drifted_features
    for name in by_cols.features:
        assert by_cols.features[name].psi == pytest.approx(by_matrix.features[name].psi)


def test_score_distribution_drift(detector: DriftDetector) -> None:
    ref = detector.reference.drift.score
    assert ref is not None
    w = window(detector, 300, seed=15)
    same = detector.predict(WindowData(columns=w.columns, scores=list(np.full(300, ref.edges[len(ref.edges) // 2]))))
    assert same.score_psi is not None and same.score_psi > 0.25 and same.score_drift


def test_outliers_counted(detector: DriftDetector) -> None:
    records = make_records(200, 16)
    for r in records[:10]:
        r["time_on_site_sec"] = 900000.0
    result = detector.predict(WindowData.from_records(detector.reference.features, records, []))
    st = result.stats["time_on_site_sec"]
    assert st.outliers_iqr >= 10 and st.outliers_z >= 10
