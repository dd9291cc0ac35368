"""A real artifact round trip: save, load, score, explain; reasons add up to the margin."""

import json

import numpy as np
import pytest
import xgboost as xgb

from leadscore_core import load_spec
from leadscore_core.artifact import (
    MANIFEST,
    REGISTRY_INFO,
    Calibrator,
    LeadScorer,
    Manifest,
    artifact_version,
    read_drift_reference,
    tier_for,
)
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.reference import (
    build_drift_reference,
    categorical_histogram,
    numeric_histogram,
    reference_sample,
    save_artifact,
)
from leadscore_core.validation import check_record


def _columns(spec, n, rng):
    cols = {}
    for f in spec.features:
        if f.type == "categorical":
            cols[f.name] = list(rng.choice(f.categories, n))
        elif f.type == "boolean":
            cols[f.name] = list(rng.random(n) < 0.5)
        else:
            cols[f.name] = rng.uniform(0, 10, n)
    return cols


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    spec = load_spec("crm_freezone")
    enc = FeatureEncoder(spec)
    rng = np.random.default_rng(1)
    cols = _columns(spec, 800, rng)
    x = enc.encode_columns(cols, 800)
    y = ((np.asarray(cols["visas_requested"]) > 5) ^ (rng.random(800) < 0.1)).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, xgb.DMatrix(x, label=y), 30)
    manifest = Manifest(
        model_name="lead-scoring",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        calibrator=Calibrator(x=[0.0, 0.5, 1.0], y=[0.0, 0.4, 1.0]),
        tier_cutoffs={"A": 0.8, "B": 0.5, "C": 0.2},
    )
    path = tmp_path_factory.mktemp("art") / "model"
    save_artifact(
        path,
        manifest,
        booster,
        build_drift_reference(spec, cols, booster.predict(xgb.DMatrix(x))),
        reference_sample(spec, cols, 200),
    )
    return path, cols


def test_scores_explains_and_reasons_sum_to_margin(artifact):
    path, cols = artifact
    scorer = LeadScorer(path).load()
    records = [
        check_record(scorer.spec, {k: (v[i] if isinstance(v, list) else float(v[i])) for k, v in cols.items()}).values
        for i in range(5)
    ]
    batch = scorer.score(scorer.encoder.encode_records(records), explain=True)
    assert batch.contributions.shape == (5, len(scorer.spec.features))
    np.testing.assert_allclose(batch.base_value + batch.contributions.sum(1), batch.margin, atol=1e-4)
    raw = 1 / (1 + np.exp(-batch.margin))
    np.testing.assert_allclose(batch.probability, np.interp(raw, [0, 0.5, 1], [0, 0.4, 1]))
    assert all(0 <= s <= 100 for s in batch.score)
    reasons = scorer.reasons(batch, 0, records[0], k=3)
    assert len(reasons) == 3
    assert abs(reasons[0]["contribution"]) >= abs(reasons[1]["contribution"]) >= abs(reasons[2]["contribution"])


def test_tiers_follow_cutoffs():
    cut = {"A": 0.8, "B": 0.5, "C": 0.2}
    assert [tier_for(p, cut) for p in (0.9, 0.8, 0.6, 0.3, 0.1)] == ["A", "A", "B", "C", "D"]


def test_drift_reference_bins_reproduce_reference_shares(artifact):
    path, cols = artifact
    ref = read_drift_reference(path)
    num = ref.numeric["visas_requested"]
    np.testing.assert_allclose(numeric_histogram(num, cols["visas_requested"]), num.freq)
    cat = ref.categorical["lead_source"]
    np.testing.assert_allclose(categorical_histogram(cat.categories, cols["lead_source"]), cat.freq)
    assert ref.score is not None and ref.n_reference == 800


def test_mismatched_artifact_is_refused(artifact, tmp_path):
    path, _ = artifact
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in path.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    m = json.loads((bad / MANIFEST).read_text())
    m["columns"] = m["columns"][:-1]
    (bad / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ValueError, match="do not match"):
        LeadScorer(bad).load()
    with pytest.raises(FileNotFoundError, match="not a leadscore model artifact"):
        LeadScorer(tmp_path).load()


def test_artifact_version_prefers_provenance_then_the_registry_download(artifact, tmp_path):
    path, _ = artifact
    assert artifact_version(path) == "unknown"  # saved before any registry numbered it
    assert artifact_version(path, default="unversioned") == "unversioned"
    (path / REGISTRY_INFO).write_text(json.dumps({"model_name": "lead-scoring", "model_version": "4"}))
    try:
        assert artifact_version(path) == "4"
        manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
        manifest.provenance["model_version"] = "7"
        assert artifact_version(path, manifest) == "7"
    finally:
        (path / REGISTRY_INFO).unlink()
