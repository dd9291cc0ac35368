"""The compiled numpy ensemble gives XGBoost's own margins and path attributions, for real boosters."""

import json

import numpy as np
import pytest
import xgboost as xgb

from leadscore_core.artifact import COMPILED_MAX_ROWS, Calibrator, DriftReference, LeadScorer, Manifest
from leadscore_core.contract import load_spec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.forest import TreeEnsemble, UnsupportedModel
from leadscore_core.reference import save_artifact


def _data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, (n, d)).astype(np.float32)
    x[:, : d // 2] = rng.random((n, d // 2)) < 0.3  # one-hot-like columns, as the encoder makes
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take the learned default direction
    logit = np.nan_to_num(x[:, 0]) * 2 - np.nan_to_num(x[:, -1]) + np.nan_to_num(x[:, -2]) ** 2 / 4 - 1
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


@pytest.mark.parametrize(
    ("objective", "depth", "rounds", "base_score"),
    [("binary:logistic", 6, 60, None), ("binary:logistic", 3, 25, 0.2), ("reg:squarederror", 4, 20, None)],
)
def test_margin_and_path_contributions_match_xgboost(objective, depth, rounds, base_score):
    x, y = _data(3000, 12, seed=depth)
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "nthread": 1, "tree_method": "hist"}
    if base_score is not None:
        params["base_score"] = base_score
    booster = xgb.train(params, xgb.DMatrix(x, label=y), rounds)
    ens = TreeEnsemble.from_model(json.loads(bytes(booster.save_raw("json"))))
    nan_row = np.full((1, 12), np.nan, dtype=np.float32)
    ens.base_margin = float(booster.inplace_predict(nan_row, predict_type="margin")[0] - ens.leaf_sum(nan_row)[0])
    test, _ = _data(400, 12, seed=99)
    want = booster.inplace_predict(test, predict_type="margin")
    np.testing.assert_allclose(ens.margin(test), want, atol=1e-4)
    want_c = booster.predict(xgb.DMatrix(test), pred_contribs=True, approx_contribs=True)
    got_c = ens.path_contributions(test)
    assert got_c.shape == want_c.shape == (400, 13)
    np.testing.assert_allclose(got_c, want_c, atol=1e-4)
    np.testing.assert_allclose(got_c.sum(axis=1), ens.margin(test), atol=1e-9)
    assert ens.depth <= depth


def test_unsupported_boosters_are_refused():
    x, y = _data(500, 6, seed=1)
    dart = xgb.train({"booster": "dart", "max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=y), 3)
    with pytest.raises(UnsupportedModel, match="gbtree"):
        TreeEnsemble.from_model(json.loads(bytes(dart.save_raw("json"))))
    multi = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1},
        xgb.DMatrix(x, label=np.arange(len(y)) % 3),
        2,
    )
    with pytest.raises(UnsupportedModel, match="multi"):
        TreeEnsemble.from_model(json.loads(bytes(multi.save_raw("json"))))
    plain = xgb.train({"nthread": 1}, xgb.DMatrix(x, label=y), 2)
    with pytest.raises(ValueError, match="expected shape"):
        TreeEnsemble.from_model(json.loads(bytes(plain.save_raw("json")))).margin(x[:, :3])


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    spec = load_spec("crm_freezone")
    enc = FeatureEncoder(spec)
    rng = np.random.default_rng(3)
    x = np.zeros((1500, enc.n_columns), dtype=np.float32)
    x[:] = rng.random(x.shape) < 0.2
    x[:, -9:] = rng.uniform(0, 50, (1500, 9))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (rng.random(1500) < 1 / (1 + np.exp(-(np.nan_to_num(x[:, -1]) / 10 - 2 + x[:, 0])))).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 5, "nthread": 1}, xgb.DMatrix(x, label=y), 40)
    manifest = Manifest(
        model_name="m",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        calibrator=Calibrator(x=[0.0, 1.0], y=[0.0, 1.0]),
        tier_cutoffs={"A": 0.5},
    )
    path = tmp_path_factory.mktemp("forest") / "model"
    save_artifact(path, manifest, booster, DriftReference(n_reference=0), {})
    return LeadScorer(path).load(), x


def test_scorer_small_batches_equal_xgboost_batches(scorer):
    """Request-sized batches go through the compiled ensemble, large ones through XGBoost: same numbers."""
    lead_scorer, x = scorer
    assert lead_scorer._compiled is not None
    small = x[:COMPILED_MAX_ROWS]
    large = x[: COMPILED_MAX_ROWS * 4]
    for explain in (False, True):
        a = lead_scorer.score(small, explain=explain, approx=True)
        b = lead_scorer.score(large, explain=explain, approx=True)
        np.testing.assert_allclose(a.margin, b.margin[:COMPILED_MAX_ROWS], atol=1e-4)
        np.testing.assert_allclose(a.probability, b.probability[:COMPILED_MAX_ROWS], atol=1e-5)
        assert a.tier == b.tier[:COMPILED_MAX_ROWS]
        if explain:
            np.testing.assert_allclose(a.contributions, b.contributions[:COMPILED_MAX_ROWS], atol=1e-4)
            assert a.base_value == pytest.approx(b.base_value, abs=1e-5)
            np.testing.assert_allclose(a.base_value + a.contributions.sum(1), a.margin, atol=1e-9)


def test_exact_reasons_stay_on_xgboost_treeshap(scorer):
    lead_scorer, x = scorer
    exact = lead_scorer.score(x[:3], explain=True, approx=False)
    approx = lead_scorer.score(x[:3], explain=True, approx=True)
    np.testing.assert_allclose(exact.margin, approx.margin, atol=1e-4)
    assert not np.allclose(exact.contributions, approx.contributions, atol=1e-3)  # two different attributions
    np.testing.assert_allclose(exact.base_value + exact.contributions.sum(1), exact.margin, atol=1e-4)
