"""Reading gold: pinned versions, the recorded spec, and refusals of tables training cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deltalake import CommitProperties, write_deltalake

from leadscore_core.contract import SPEC_PATH_ENV, FeatureSpec, load_spec
from leadscore_core.lake import GOLD_FEATURES
from training.errors import TrainingError
from training.gold import read_gold, read_ground_truth
from training.testkit import make_gold, write_gold


def test_reads_the_pinned_version(tmp_path: Path) -> None:
    frame, truth = make_gold(400, seed=1)
    v0 = write_gold(tmp_path, frame, truth)
    more, _ = make_gold(300, seed=2)
    v1 = write_gold(tmp_path, more, mode="append")
    assert (v0, v1) == (0, 1)
    old = read_gold(tmp_path, version=0)
    new = read_gold(tmp_path)
    assert (len(old.frame), old.version) == (400, 0)
    assert (len(new.frame), new.version) == (700, 1)
    assert new.frame["event_ts"].is_monotonic_increasing
    assert new.spec.name == "crm_freezone" and "recorded by gold" in new.spec_source
    assert read_ground_truth(tmp_path) is not None


def test_unknown_version_and_missing_table_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="pipeline run"):
        read_gold(tmp_path)
    frame, _ = make_gold(400, seed=1)
    write_gold(tmp_path, frame)
    with pytest.raises(TrainingError, match="version 5"):
        read_gold(tmp_path, version=5)


def test_spec_recorded_in_the_gold_commit_is_used(tmp_path: Path) -> None:
    spec = load_spec("bank_marketing")
    frame, _ = make_gold(400, seed=3, spec=spec)
    write_gold(tmp_path, frame, spec=spec)
    data = read_gold(tmp_path)
    assert data.spec.name == "bank_marketing" and "recorded by gold" in data.spec_source
    assert data.spec_fingerprint == spec.fingerprint()
    with pytest.raises(TrainingError, match="is not the spec 'bank_marketing'"):
        read_gold(tmp_path, spec_name="crm_freezone")


def test_gold_without_a_spec_record_is_refused(tmp_path: Path) -> None:
    frame, _ = make_gold(400, seed=4)
    meta = {"batch_id": "b-1", "source": "csv:x"}
    write_deltalake(str(tmp_path / GOLD_FEATURES), frame, commit_properties=CommitProperties(custom_metadata=meta))
    (tmp_path / "_runs").mkdir()
    (tmp_path / "_runs" / "b-1.json").write_text('{"batch_id": "b-1", "spec": "crm_freezone"}')
    with pytest.raises(TrainingError, match=r"records no feature spec .*leadscore pipeline run"):
        read_gold(tmp_path)
    with pytest.raises(TrainingError, match="records no feature spec"):
        read_gold(tmp_path, spec_name="crm_freezone")


def _write_spec(path: Path, spec: FeatureSpec) -> None:
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


@pytest.mark.parametrize("edit", ["category", "range", "top_k"])
def test_a_spec_edited_after_gold_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str) -> None:
    """A spec found by its name (the file is called anything) that changed after gold was built."""
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = load_spec("crm_freezone").model_copy(update={"name": "acme_leads"})
    _write_spec(specs / "whatever-file-name.yaml", spec)
    monkeypatch.setenv(SPEC_PATH_ENV, str(specs))
    frame, _ = make_gold(400, seed=5, spec=spec)
    write_gold(tmp_path / "lake", frame, spec=spec)
    assert read_gold(tmp_path / "lake").spec == spec  # found by name, fingerprint matches

    doc = spec.model_dump(mode="json")
    cat = next(f for f in doc["features"] if f["type"] == "categorical")
    num = next(f for f in doc["features"] if f["type"] == "numeric")
    if edit == "category":
        cat["categories"] = [*cat["categories"], "brand-new"]
    elif edit == "range":
        num["max"] = (num.get("max") or 0) + 1000
    else:
        doc["scoring"]["top_k_reasons"] += 1
    (specs / "whatever-file-name.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(TrainingError, match=r"spec 'acme_leads' changed after gold .*fingerprint") as err:
        read_gold(tmp_path / "lake")
    assert spec.fingerprint() in str(err.value) and "leadscore pipeline run --spec acme_leads" in str(err.value)
    with pytest.raises(TrainingError, match="changed after gold"):
        read_gold(tmp_path / "lake", spec_name=str(specs / "whatever-file-name.yaml"))


def test_recorded_spec_content_is_used_when_no_file_declares_it(tmp_path: Path) -> None:
    spec = load_spec("crm_freezone").model_copy(update={"name": "gone_from_disk"})
    frame, _ = make_gold(300, seed=6, spec=spec)
    write_gold(tmp_path, frame, spec=spec)
    data = read_gold(tmp_path)
    assert data.spec == spec and data.spec_source.startswith("spec content recorded by gold")


def test_pinned_version_reads_its_own_commit_record(tmp_path: Path) -> None:
    bank = load_spec("bank_marketing")
    crm = load_spec("crm_freezone")
    write_gold(tmp_path, make_gold(300, seed=7, spec=bank)[0], spec=bank)
    write_gold(tmp_path, make_gold(300, seed=8, spec=crm)[0], spec=crm)
    assert read_gold(tmp_path, version=0).spec.name == "bank_marketing"
    assert read_gold(tmp_path).spec.name == "crm_freezone"


def test_spec_table_mismatch_names_missing_columns(tmp_path: Path) -> None:
    frame, _ = make_gold(400, seed=1)
    write_gold(tmp_path, frame.drop(columns=["budget_band", "web_visits"]))
    with pytest.raises(TrainingError, match=r"missing columns \['budget_band', 'web_visits'\]"):
        read_gold(tmp_path)


def test_non_binary_labels_are_refused(tmp_path: Path) -> None:
    frame, _ = make_gold(400, seed=1)
    frame["label"] = frame["label"] * 3
    write_gold(tmp_path, frame)
    with pytest.raises(TrainingError, match="label must be 0/1"):
        read_gold(tmp_path)
