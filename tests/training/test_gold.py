"""Reading gold: pinned versions, the recorded spec, and refusals of tables training cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import CommitProperties, write_deltalake
from training_helpers import make_gold, write_gold

from leadscore_core.contract import load_spec
from training.errors import TrainingError
from training.gold import read_gold, read_ground_truth


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
    assert new.spec.name == "crm_freezone" and new.spec_source == "default"
    assert read_ground_truth(tmp_path) is not None


def test_unknown_version_and_missing_table_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="pipeline run"):
        read_gold(tmp_path)
    frame, _ = make_gold(400, seed=1)
    write_gold(tmp_path, frame)
    with pytest.raises(TrainingError, match="version 5"):
        read_gold(tmp_path, version=5)


def test_spec_recorded_in_commit_metadata_is_used(tmp_path: Path) -> None:
    spec = load_spec("bank_marketing")
    frame, _ = make_gold(400, seed=3, spec=spec)
    write_deltalake(
        str(tmp_path / "gold" / "lead_features"),
        frame,
        commit_properties=CommitProperties(custom_metadata={"leadscore.spec": "bank_marketing"}),
    )
    data = read_gold(tmp_path)
    assert data.spec.name == "bank_marketing" and "commit metadata" in data.spec_source
    with pytest.raises(TrainingError, match="does not match the spec"):
        read_gold(tmp_path, spec_name="crm_freezone")


def test_spec_table_mismatch_names_missing_columns(tmp_path: Path) -> None:
    frame, _ = make_gold(400, seed=1)
    write_gold(tmp_path, frame.drop(columns=["budget_band", "web_visits"]))
    with pytest.raises(TrainingError, match=r"missing columns \['budget_band', 'web_visits'\]"):
        read_gold(tmp_path)
    with pytest.raises(TrainingError, match="missing columns"):
        read_gold(tmp_path, spec_name="bank_marketing")


def test_non_binary_labels_are_refused(tmp_path: Path) -> None:
    frame, _ = make_gold(400, seed=1)
    frame["label"] = frame["label"] * 3
    write_gold(tmp_path, frame)
    with pytest.raises(TrainingError, match="label must be 0/1"):
        read_gold(tmp_path)


def test_spec_found_through_the_pipeline_run_record(tmp_path: Path) -> None:
    spec = load_spec("bank_marketing")
    frame, _ = make_gold(400, seed=4, spec=spec)
    write_deltalake(
        str(tmp_path / "gold" / "lead_features"), frame,
        commit_properties=CommitProperties(custom_metadata={"batch_id": "b-1", "source": "csv:x"}),
    )  # fmt: skip
    (tmp_path / "_runs").mkdir()
    (tmp_path / "_runs" / "b-1.json").write_text('{"batch_id": "b-1", "spec": "bank_marketing"}')
    data = read_gold(tmp_path)
    assert data.spec.name == "bank_marketing" and data.spec_source == "pipeline run record _runs/b-1.json"
