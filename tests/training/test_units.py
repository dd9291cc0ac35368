"""Pure pieces: time splits, calibration, tiers, metrics, gate decisions."""

from __future__ import annotations

import numpy as np
import pytest

from leadscore_core.contract import load_spec
from training import calibrate, gate, split
from training.errors import TrainingError
from training.evaluate import evaluate, expected_calibration_error


def test_time_split_keeps_latest_rows_for_holdout_and_calibration() -> None:
    ts = split.time_split(1000, holdout=0.2, calibration_fraction=0.15)
    assert (ts.train_end, ts.fit_end) == (800, 680)
    assert ts.holdout == slice(800, 1000) and ts.calibration == slice(680, 800) and ts.fit == slice(0, 680)


def test_cv_folds_expand_and_validate_on_later_blocks() -> None:
    folds = split.cv_folds(400, 3)
    assert len(folds) == 3
    for (tr, _va), (tr_next, _) in zip(folds, folds[1:], strict=False):
        assert len(tr_next) > len(tr)
    for tr, va in folds:
        assert tr.max() < va.min() and tr.min() == 0


def test_blocked_folds_cover_every_block_once_and_purge_the_borders() -> None:
    folds = split.cv_folds(900, 3, scheme="blocked")
    assert len(folds) == 3
    validated = np.concatenate([va for _, va in folds])
    assert np.array_equal(np.sort(validated), np.arange(900))  # each row validated exactly once
    gap = 900 // 30
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0
        lo, hi = va.min(), va.max()
        assert np.all((tr < lo - gap + 1) | (tr > hi + gap - 1))  # nothing within `gap` rows of the block
        assert len(tr) == 900 - len(va) - np.count_nonzero((np.arange(900) >= lo - gap) & (np.arange(900) < lo)) - (
            np.count_nonzero((np.arange(900) > hi) & (np.arange(900) <= hi + gap))
        )
    with pytest.raises(ValueError, match="unknown CV scheme"):
        split.cv_folds(900, 3, scheme="random")


def test_check_target_refuses_single_class_and_small_tables() -> None:
    ts = split.time_split(1000, 0.2, 0.15)
    folds = split.cv_folds(800, 2)
    with pytest.raises(TrainingError, match="single-class target"):
        split.check_target(np.zeros(1000, dtype=int), ts, folds, 300, 20)
    with pytest.raises(TrainingError, match="at least 300"):
        split.check_target(np.zeros(100, dtype=int), split.time_split(100, 0.2, 0.15), [], 300, 20)
    with pytest.raises(TrainingError, match="empty"):
        split.check_target(np.zeros(0, dtype=int), split.time_split(0, 0.2, 0.15), [], 300, 20)
    y = np.zeros(1000, dtype=int)
    y[:200:5] = 1  # positives only early: the holdout has none
    with pytest.raises(TrainingError, match="holdout"):
        split.check_target(y, ts, folds, 300, 20)


def test_calibrator_is_strictly_increasing_and_calibrates() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random(5000)
    y = (rng.random(5000) < raw**2).astype(int)  # raw over-states the rate
    cal = calibrate.fit_calibrator(raw, y)
    grid = np.linspace(0, 1, 1001)
    out = cal(grid)
    assert np.all(np.diff(out) > 0), "ranking must be preserved (no isotonic plateaus)"
    assert abs(float(cal(np.array([0.5]))[0]) - 0.25) < 0.06
    assert expected_calibration_error(cal(raw), y) < expected_calibration_error(raw, y)


def test_tier_cutoffs_follow_spec_quantiles_best_first() -> None:
    spec = load_spec("crm_freezone")
    scores = np.linspace(0, 1, 1001)
    cut = calibrate.tier_cutoffs(spec, scores)
    assert list(cut) == ["A", "B", "C"]
    assert cut["A"] == pytest.approx(0.9) and cut["B"] == pytest.approx(0.7) and cut["C"] == pytest.approx(0.4)


def test_evaluate_reports_lift_tiers_and_oracle() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(4000) * 0.5
    y = (rng.random(4000) < truth).astype(int)
    p = np.clip(truth + rng.normal(0, 0.05, 4000), 0, 1)
    m = evaluate(p, y, {"A": 0.4, "B": 0.3, "C": 0.15}, "B", oracle=truth)
    assert 0.5 < m["auc"] <= m["oracle_auc"] + 0.02
    assert m["top_decile_lift"] > 1.5
    assert m["tier_A_conversion"] > m["tier_B_conversion"] > m["tier_C_conversion"] > m["tier_D_conversion"]
    assert sum(m[f"tier_{t}_share"] for t in "ABCD") == pytest.approx(1.0)
    assert m["operating_threshold"] == 0.3 and 0 < m["recall_at_threshold"] < 1


def test_gate_decisions() -> None:
    boot = gate.decide(0.7, "gold@v1", min_auc=0.6, min_gain=0.02, champion_version=None, champion_auc=None)
    assert (boot.stage, boot.decision) == ("production", "bootstrap")
    low = gate.decide(0.55, "gold@v1", min_auc=0.6, min_gain=0.02, champion_version=None, champion_auc=None)
    assert low.stage == "development" and "below the floor" in low.reason
    win = gate.decide(0.80, "gold@v1", min_auc=0.6, min_gain=0.02, champion_version=1, champion_auc=0.77)
    assert win.stage == "staging" and "+0.0300" in win.reason
    lose = gate.decide(0.78, "gold@v1", min_auc=0.6, min_gain=0.02, champion_version=1, champion_auc=0.77)
    assert lose.stage == "development" and "< required +0.0200" in lose.reason and "gold@v1" in lose.reason
