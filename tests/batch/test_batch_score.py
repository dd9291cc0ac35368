"""`leadscore batch score`: PySpark scores gold with the champion -> Delta gold/lead_scores + CRM upsert."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore_core.artifact import LeadScorer
from training.features import encode_frame
from training.testkit import fast_settings, make_gold, write_gold

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    from leadscore.lakehouse.settings import PipelineSettings
    from leadscore.lakehouse.spark import get_spark

    session = get_spark(PipelineSettings(spark_master="local[2]"), app_name="test-batch-scoring")
    yield session
    session.stop()


def _crm(dsn: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT lead_id, score, probability, tier, reasons, model_version, gold_version FROM lead_scores"
        ).fetchall()
    cols = ["lead_id", "score", "probability", "tier", "reasons", "model_version", "gold_version"]
    return pd.DataFrame(rows, columns=cols).sort_values("lead_id").reset_index(drop=True)


def test_batch_scoring_writes_delta_and_upserts_the_crm_idempotently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scratch_database, spark
) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    dsn = scratch_database("i9_batch")
    lake = tmp_path / "lake"
    frame, truth = make_gold(700, seed=31)
    write_gold(lake, frame, truth)

    # no champion: a clear error, nothing written
    res = runner.invoke(build_app(), ["batch", "score", "--lake", str(lake), "--dsn", dsn])
    assert res.exit_code == 2 and "has no champion" in res.output and "Traceback" not in res.output
    assert not (lake / "gold" / "lead_scores").exists()

    from training.train import TrainRequest, train

    trained = train(TrainRequest(lake=lake, trials=2), fast_settings(plots=False))
    assert trained["lifecycle"] == "production"

    res = runner.invoke(build_app(), ["batch", "score", "--lake", str(lake), "--dsn", dsn, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["rows"] == 700 and report["crm_rows"] == 700 and report["model_version"] == "1"
    delta = DeltaTable(str(lake / "gold" / "lead_scores")).to_pandas().sort_values("lead_id").reset_index(drop=True)
    crm = _crm(dsn)
    assert list(crm["lead_id"]) == list(delta["lead_id"]) == sorted(frame["lead_id"])
    np.testing.assert_allclose(crm["probability"], delta["probability"])

    # the same numbers as the core scorer on the same rows (the online path)
    scorer = LeadScorer(_artifact()).load()
    by_id = frame.set_index("lead_id").loc[delta["lead_id"]].reset_index()
    expected = scorer.score(encode_frame(scorer.encoder, by_id), explain=True)
    np.testing.assert_allclose(delta["probability"], expected.probability, rtol=1e-6)
    assert list(delta["tier"]) == expected.tier
    assert (delta["score"] == expected.score).all()
    first = json.loads(delta["reasons"][0])
    assert first == json.loads(json.dumps(scorer.reasons(expected, 0, _values(by_id.iloc[[0]], scorer))))
    assert all(isinstance(r, list) and r for r in crm["reasons"])

    # re-run: same rows, no duplicates
    res = runner.invoke(build_app(), ["batch", "score", "--lake", str(lake), "--dsn", dsn, "--json"])
    assert res.exit_code == 0, res.output
    again = _crm(dsn)
    pd.testing.assert_frame_equal(again, crm)
    assert DeltaTable(str(lake / "gold" / "lead_scores")).to_pandas()["lead_id"].is_unique

    # new leads in a later gold version: added, the old ones re-scored in place
    more, more_truth = make_gold(150, seed=32)
    write_gold(lake, pd.concat([frame, more], ignore_index=True), pd.concat([truth, more_truth], ignore_index=True))
    res = runner.invoke(build_app(), ["batch", "score", "--lake", str(lake), "--dsn", dsn, "--json"])
    assert res.exit_code == 0, res.output
    grown = _crm(dsn)
    assert len(grown) == 850 and grown["lead_id"].is_unique
    assert set(grown["gold_version"]) == {json.loads(res.stdout.strip().splitlines()[-1])["gold_version"]}


def _artifact() -> Path:
    from leadscore.registry.registry import fetch_artifact

    return fetch_artifact("champion")


def _values(row: pd.DataFrame, scorer: LeadScorer) -> dict:
    from leadscore.batch.score import _plain
    from training.features import feature_columns

    return {k: _plain(v[0]) for k, v in feature_columns(row, scorer.spec).items()}


def test_missing_gold_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    res = runner.invoke(build_app(), ["batch", "score", "--lake", str(tmp_path / "nolake"), "--dsn", "postgresql://x"])
    assert res.exit_code == 2 and "gold table" in res.output and "does not exist" in res.output
