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
    tiers_for,
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


@pytest.mark.parametrize("n", [5, 17, 4000])
def test_batch_tiers_are_the_per_lead_tiers(n):
    cut = {"A": 0.8, "B": 0.5, "C": 0.2}
    rng = np.random.default_rng(n)
    p = np.concatenate([rng.random(n), [0.8, 0.5, 0.2, np.nextafter(0.5, 0), np.nan, 1.0, 0.0]])
    assert tiers_for(p, cut) == [tier_for(float(v), cut) for v in p]
    assert tiers_for(p, {}) == ["D"] * len(p)


def test_compiled_false_scores_a_small_batch_with_xgboost(artifact):
    """A lead's numbers do not depend on its batch's size when the compiled ensemble is off (batch scoring)."""
    path, cols = artifact
    scorer = LeadScorer(path).load()
    x = scorer.encoder.encode_columns(cols, 800)
    whole = scorer.score(x, explain=True, compiled=False)
    for rows in (slice(0, 1), slice(3, 19), slice(100, 116)):
        part = scorer.score(x[rows], explain=True, compiled=False)
        np.testing.assert_array_equal(part.margin, whole.margin[rows])
        np.testing.assert_array_equal(part.probability, whole.probability[rows])
        np.testing.assert_array_equal(part.contributions, whole.contributions[rows])
        assert part.tier == whole.tier[rows]


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


@pytest.mark.parametrize(
    ("text", "registry", "want"),
    [
        ('{"format_version": 2, "provenance": {"model_version": "9"}}', None, "9"),  # fails validation
        ('{"format_version": 2}', "5", "5"),
        ("{not json", None, "unknown"),
        ("[1, 2]", "3", "3"),
        ('{"provenance": "x"}', None, "unknown"),
    ],
)
def test_artifact_version_of_a_broken_manifest_does_not_refuse_it(tmp_path, text, registry, want):
    """Finding the version never validates the manifest: the load refuses it, with its reason."""
    (tmp_path / MANIFEST).write_text(text)
    if registry is not None:
        (tmp_path / REGISTRY_INFO).write_text(json.dumps({"model_version": registry}))
    assert artifact_version(tmp_path) == want
    with pytest.raises(ValueError):
        LeadScorer(tmp_path).load()


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _flip_leaves(booster_json):
    """Negate every leaf value of an XGBoost JSON model (the issue's sign-flipped booster)."""
    doc = json.loads(booster_json.read_text())
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        for i, left in enumerate(tree["left_children"]):
            if left == -1:
                tree["split_conditions"][i] = -tree["split_conditions"][i]
                tree["base_weights"][i] = -tree["base_weights"][i]
    booster_json.write_text(json.dumps(doc))


def test_manifest_records_digests_and_probe(artifact):
    from leadscore_core.artifact import BOOSTER, DRIFT_REFERENCE, REFERENCE_SAMPLE, sha256_file

    path, _ = artifact
    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    assert manifest.format_version == 2
    assert set(manifest.files) == {BOOSTER, DRIFT_REFERENCE, REFERENCE_SAMPLE}
    assert all(manifest.files[n] == sha256_file(path / n) for n in manifest.files)
    assert manifest.probe is not None and len(manifest.probe.rows) == len(manifest.probe.margin) == 16
    assert any(v is None for r in manifest.probe.rows for v in r)  # missing values are probed too


@pytest.mark.parametrize("name", ["booster.json", "drift_reference.json", "reference_sample.npz"])
def test_a_changed_file_is_refused(artifact, tmp_path, name):
    from leadscore_core.artifact import ArtifactIntegrityError

    path = _copy(artifact[0], tmp_path / "m")
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    (path / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=name.replace(".", r"\.") + " has sha256"):
        LeadScorer(path).load()


def test_a_sign_flipped_booster_is_refused_even_with_a_matching_digest(artifact, tmp_path):
    """The booster still parses and its digest was recomputed: the probe answers catch it."""
    from leadscore_core.artifact import BOOSTER, ArtifactIntegrityError, sha256_file, write_manifest

    path = _copy(artifact[0], tmp_path / "m")
    _flip_leaves(path / BOOSTER)
    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    manifest.files[BOOSTER] = sha256_file(path / BOOSTER)
    write_manifest(path, manifest)
    scorer = LeadScorer(path)
    with pytest.raises(ArtifactIntegrityError, match="probe rows"):
        scorer.load()
    assert not scorer.ready and scorer.manifest is None


def test_an_artifact_without_digests_is_refused_with_how_to_rebuild(artifact, tmp_path):
    from leadscore_core.artifact import ArtifactIntegrityError

    path = _copy(artifact[0], tmp_path / "m")
    doc = json.loads((path / MANIFEST).read_text())
    doc["format_version"] = 1
    del doc["files"], doc["probe"]
    (path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(ArtifactIntegrityError, match="no file digests.*leadscore train"):
        LeadScorer(path).load()


def _rewrite_probe(path, calibrator, margin_shift=0.0):
    """Manifest with ``calibrator`` and probe answers as training would store them, margins shifted."""
    from leadscore_core.artifact import write_manifest

    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    margin = np.asarray(manifest.probe.margin) + margin_shift
    manifest.calibrator = calibrator
    manifest.probe.margin = margin.tolist()
    manifest.probe.probability = np.asarray(calibrator(1.0 / (1.0 + np.exp(-margin))), dtype=np.float64).tolist()
    write_manifest(path, manifest)
    return manifest


@pytest.mark.parametrize("row", [0, 5])
def test_a_steep_calibrator_does_not_turn_rounding_into_a_broken_artifact(artifact, tmp_path, row):
    """Margins off by float32 rounding (well inside PROBE_ATOL) across a near-vertical isotonic knot."""
    path = _copy(artifact[0], tmp_path / "m")
    margin = Manifest.model_validate_json((path / MANIFEST).read_text()).probe.margin[row]
    raw = 1.0 / (1.0 + np.exp(-margin))
    knot = Calibrator(x=[0.0, raw - 1e-6, raw + 1e-6, 1.0], y=[0.0, 0.2, 0.6, 1.0])
    manifest = _rewrite_probe(path, knot, margin_shift=5e-5)  # PROBE_ATOL is 1e-4
    live = LeadScorer(path).load().score(np.asarray(manifest.probe.rows, dtype=np.float64)).probability
    assert np.abs(live - np.asarray(manifest.probe.probability)).max() > 1e-3  # what the old check refused


def test_a_changed_calibrator_is_refused(artifact, tmp_path):
    from leadscore_core.artifact import ArtifactIntegrityError

    path = _copy(artifact[0], tmp_path / "m")
    from leadscore_core.artifact import write_manifest

    manifest = _rewrite_probe(path, Calibrator(x=[0.0, 0.5, 1.0], y=[0.0, 0.4, 1.0]))
    manifest.calibrator = Calibrator(x=[0.0, 0.5, 1.0], y=[0.0, 0.45, 1.0])
    write_manifest(path, manifest)
    with pytest.raises(ArtifactIntegrityError, match="probe rows"):
        LeadScorer(path).load()


# -- native categorical artifacts (issue 13) joined with the format-2 integrity checks (issue 12) -------------


def _native_spec(levels: int):
    from leadscore_core.contract import FeatureSpec

    spec = FeatureSpec.model_validate(
        {
            "name": "native_probe",
            "entity": {"id": "lead_id", "order_by": "row_order"},
            "target": {"column": "y"},
            "features": [
                {"name": "agent", "type": "categorical", "categories": "learn", "encoding": "native"},
                {"name": "region", "type": "categorical", "categories": ["n", "s", "e"]},
                {"name": "calls", "type": "numeric", "min": 0},
                {"name": "returning", "type": "boolean"},
            ],
        }
    )
    return spec.with_vocabularies({"agent": [f"a{i:03d}" for i in range(levels)]})


def _native_records(spec, n, seed):
    rng = np.random.default_rng(seed)
    vocab = spec.feature("agent").vocab
    effect = rng.normal(0, 1.5, len(vocab))
    records, logits = [], []
    for _ in range(n):
        k = int(rng.integers(len(vocab)))
        calls = float(rng.poisson(4))
        records.append(
            {
                "agent": vocab[k] if rng.random() > 0.05 else None,
                "region": str(rng.choice(["n", "s", "e"])),
                "calls": calls if rng.random() > 0.05 else None,
                "returning": bool(rng.random() < 0.3),
            }
        )
        logits.append(effect[k] + 0.2 * calls - 1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-np.asarray(logits)))).astype(int)
    return records, y


@pytest.fixture(scope="module", params=[(40, 0), (300, 1)], ids=["40-levels", "300-levels"])
def native(request, tmp_path_factory):
    from leadscore_core.testkit import build_artifact

    levels, seed = request.param
    spec = _native_spec(levels)
    records, y = _native_records(spec, 1500, seed)
    path = build_artifact(tmp_path_factory.mktemp("native") / "model", spec, records, y, seed=seed, rounds=25)
    return path, spec, records


def test_native_artifact_probes_with_category_codes_and_loads(native):
    path, spec, _ = native
    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    assert manifest.vocabularies == {"agent": spec.feature("agent").vocab}
    enc = FeatureEncoder(manifest.spec)
    (col, n_codes), *_ = enc.native_codes.items()
    assert n_codes == len(spec.feature("agent").vocab) + 1  # __other__ has the last code
    codes = [r[col] for r in manifest.probe.rows]
    assert any(c is None for c in codes)  # missing is probed
    assert all(c is None or (float(c).is_integer() and 0 <= c < n_codes) for c in codes)  # codes, never fractions
    scorer = LeadScorer(path).load()
    assert scorer.ready and scorer.encoder.categorical and scorer._compiled is None


def test_native_artifact_scores_like_xgboost_on_a_categorical_dmatrix(native):
    path, spec, records = native
    scorer = LeadScorer(path).load()
    booster = xgb.Booster()
    booster.load_model(str(path / "booster.json"))
    x = scorer.encoder.encode_records(records[:40] + [{"agent": "never-seen", "region": "n", "calls": 2.0}])
    dm = xgb.DMatrix(x, feature_types=scorer.encoder.feature_types, enable_categorical=True)
    want = booster.predict(dm, output_margin=True)
    for rows in (slice(0, 1), slice(0, 16), slice(0, 41)):  # sizes the compiled path would take, and larger
        np.testing.assert_allclose(scorer.score(x[rows]).margin, want[rows], atol=1e-5)
    batch = scorer.score(x, explain=True)
    np.testing.assert_allclose(batch.base_value + batch.contributions.sum(1), batch.margin, atol=1e-3)
    np.testing.assert_allclose(batch.margin, want, atol=1e-4)


def test_a_sign_flipped_native_booster_is_refused(native, tmp_path):
    from leadscore_core.artifact import BOOSTER, ArtifactIntegrityError, sha256_file, write_manifest

    path = _copy(native[0], tmp_path / "m")
    _flip_leaves(path / BOOSTER)
    manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    manifest.files[BOOSTER] = sha256_file(path / BOOSTER)
    write_manifest(path, manifest)
    with pytest.raises(ArtifactIntegrityError, match="probe rows"):
        LeadScorer(path).load()


@pytest.mark.parametrize("edit", ["reordered", "dropped", "extra"])
def test_vocabularies_that_disagree_with_the_spec_are_refused(native, tmp_path, edit):
    path = _copy(native[0], tmp_path / "m")
    doc = json.loads((path / MANIFEST).read_text())
    if edit == "reordered":
        doc["vocabularies"]["agent"] = doc["vocabularies"]["agent"][::-1]
    elif edit == "dropped":
        del doc["vocabularies"]["agent"]
    else:
        doc["vocabularies"]["region"] = ["n", "s", "e"]
    (path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="vocabularies .* do not match"):
        LeadScorer(path).load()
