"""Training on exports shaped like the ones users bring (issue 13): "latest" comes from the spec's order
(an integer lead number in a newest-first file), a spec without an order is refused with the fix, and
learned vocabularies come from the training part only and travel in the artifact to serving and drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.datagen.exports import write_agent_export, write_web_export
from leadscore.registry.registry import fetch_artifact
from leadscore_core.artifact import LeadScorer, read_drift_reference
from leadscore_core.contract import OTHER, load_spec
from leadscore_core.settings import HomeSettings
from training import split
from training.errors import TrainingError
from training.gold import read_gold
from training.testkit import export_gold, fast_settings, write_gold
from training.train import TrainRequest, train


def _spec_without_order(src: Path, dst: Path) -> Path:
    text = (
        src.read_text()
        .replace("  order_by: lead_number\n", "")
        .replace("  direction: ascending      # a larger lead number is a newer lead, whatever the file order\n", "")
    )
    dst.write_text(text)
    return dst


@pytest.mark.parametrize(("direction", "latest_is_largest"), [("ascending", True), ("descending", False)])
def test_holdout_is_the_latest_part_in_the_stated_order(
    tmp_path: Path, direction: str, latest_is_largest: bool
) -> None:
    export = write_web_export(tmp_path / "raw", rows=500, seed=7)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(export.spec_path.read_text().replace("direction: ascending", f"direction: {direction}"))
    spec = load_spec(spec_path)
    frame = export_gold(spec, export.files[0])
    assert frame["event_order"].is_monotonic_decreasing  # the file: newest first
    write_gold(tmp_path / "lake", frame, spec=spec)
    data = read_gold(tmp_path / "lake", spec_name=str(spec_path))
    ts = split.time_split(len(data.frame), 0.2, 0.2)
    hold = data.frame.iloc[ts.holdout]["event_order"]
    rest = data.frame.iloc[ts.train]["event_order"]
    assert (hold.min() > rest.max()) if latest_is_largest else (hold.max() < rest.min())
    note = split.holdout_note(spec.time_order, data.frame.iloc[ts.holdout])
    end = "largest" if latest_is_largest else "smallest"
    assert note.startswith(f"{len(hold)} leads from lead_number {data.frame.iloc[ts.holdout]['event_order'].iloc[0]:g}")
    assert f"latest = {end} lead_number (order_by: lead_number, direction: {direction})" in note


def test_a_spec_without_an_order_is_refused_with_the_fix(tmp_path: Path, home: HomeSettings) -> None:
    export = write_web_export(tmp_path / "raw", rows=300, seed=8)
    spec_path = _spec_without_order(export.spec_path, tmp_path / "unordered.yaml")
    unordered = load_spec(spec_path)
    write_gold(tmp_path / "lake", export_gold(unordered, export.files[0]), spec=unordered)
    with pytest.raises(TrainingError, match=r"states no time order.*order_by: row_order") as err:
        train(TrainRequest(lake=tmp_path / "lake", spec=str(spec_path)), fast_settings(), home)
    assert "direction: descending" in str(err.value)


def test_removed_synthetic_step_names_the_replacement(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(
        load_spec("bank_marketing").model_dump_json().replace('"order_by":"row_order"', '"synthetic_step_seconds":-60')
    )
    with pytest.raises(ValueError, match="synthetic_step_seconds was removed.*order_by"):
        load_spec(path)


def test_train_on_a_newest_first_export_learns_vocabularies_on_the_training_part(
    tmp_path: Path, home: HomeSettings
) -> None:
    export = write_web_export(tmp_path / "raw", rows=1500, seed=9)
    spec = load_spec(export.spec_path)
    frame = export_gold(spec, export.files[0])
    newest = frame["event_order"] >= frame["event_order"].quantile(0.95)
    frame.loc[newest, "lead_origin"] = "quick add form"  # only in the holdout: must not be learned
    write_gold(tmp_path / "lake", frame, spec=spec)
    summary = train(TrainRequest(lake=tmp_path / "lake", spec=str(export.spec_path)), fast_settings(), home)
    assert summary["time_order"] == "latest = largest lead_number (order_by: lead_number, direction: ascending)"
    assert "latest = largest lead_number" in summary["gate"]["reason"]
    holdout_start = frame["event_order"].sort_values().iloc[int(round(len(frame) * 0.8))]
    assert summary["holdout_leads"].startswith(
        f"{len(frame) - int(round(len(frame) * 0.8))} leads from lead_number {holdout_start:g}"
    )
    assert summary["metrics"]["auc"] > 0.7

    path = fetch_artifact("champion", tmp_path / "model")
    scorer = LeadScorer(path).load()
    assert scorer.manifest is not None
    vocab = scorer.manifest.vocabularies
    assert "google" in vocab["lead_source"] and "Google" not in vocab["lead_source"]
    assert "quick add form" not in vocab["lead_origin"]
    assert "select" not in vocab["specialization"]  # a placeholder is missing, never a category
    oldest_first = frame.sort_values("event_order")
    counts = oldest_first.iloc[: int(round(len(frame) * 0.8))]["city"].value_counts()  # the training part only
    assert vocab["city"] == sorted(counts.index, key=lambda c: (-counts[c], c))
    assert scorer.spec.feature("lead_source").vocab == vocab["lead_source"]
    assert scorer.spec.fingerprint() == spec.fingerprint()  # the contract is the same; the vocabulary is the model's
    drift = read_drift_reference(path)
    assert drift.categorical["lead_source"].categories == [*vocab["lead_source"], OTHER]
    assert scorer.encoder is not None
    x = scorer.encoder.encode_records([{"lead_source": "google", "lead_origin": "quick add form"}])
    assert x[0, scorer.encoder.columns.index("lead_origin=" + OTHER)] == 1.0
    probs = scorer.score(x).probability
    assert pd.notna(probs).all()


def test_native_categorical_encoding_trains_scores_and_explains(tmp_path: Path, home: HomeSettings) -> None:
    export = write_agent_export(tmp_path / "raw", rows=2000, seed=5)
    spec_path = tmp_path / "native.yaml"
    spec_path.write_text(
        export.spec_path.read_text().replace("max_categories: 600}", "max_categories: 600, encoding: native}")
    )
    spec = load_spec(spec_path)
    assert spec.feature("agent_id").encoding == "native"
    write_gold(tmp_path / "lake", export_gold(spec, export.directory), spec=spec)
    summary = train(TrainRequest(lake=tmp_path / "lake", spec=str(spec_path)), fast_settings(), home)
    assert summary["time_order"] == "latest = newest created (timestamp)"
    scorer = LeadScorer(fetch_artifact(str(summary["version"]), tmp_path / "model")).load()
    assert scorer.encoder is not None and scorer.encoder.categorical
    assert scorer.encoder.columns.count("agent_id") == 1  # one column of codes, not ~500 one-hot columns
    vocab = scorer.spec.feature("agent_id").vocab or []
    assert len(vocab) > 100
    x = scorer.encoder.encode_records([{"agent_id": vocab[0], "calls": 3}, {"agent_id": "AG9999", "calls": 3}])
    batch = scorer.score(x, explain=True)
    assert batch.contributions is not None
    assert np.allclose(batch.base_value + batch.contributions.sum(axis=1), batch.margin, atol=1e-3)
    assert np.allclose(scorer.score(x).margin, batch.margin, atol=1e-4)
