"""The Spark path (what ``leadscore batch score`` runs) gives the pandas/online path's numbers and reasons.

Same rows, several seeds, sizes, batch sizes and task counts, gold with one row group (cut into ranges) or
many; the scores are read back from the Delta table they were written to. A failed run leaves the table and
its folder as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, WriterProperties, write_deltalake

from leadscore.batch.reason_json import plain
from leadscore.batch.score import SCORES_TABLE, score_to_delta
from leadscore.batch.settings import BatchSettings
from leadscore.batch.spark_job import available_cpus, task_slots
from leadscore.batch.testkit import gold_batch
from leadscore_core.artifact import LeadScorer
from leadscore_core.lake import GOLD_FEATURES
from leadscore_core.testkit import make_artifact
from training.features import encode_frame, feature_columns

pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark():
    from leadscore.lakehouse.settings import PipelineSettings
    from leadscore.lakehouse.spark import get_spark

    session = get_spark(PipelineSettings(spark_master="local[2]"), app_name="test-batch-spark-job")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("art") / "model", n=1500, version="7", rounds=40)


def _write_gold(lake: Path, table: pa.Table, rows_per_group: int | None) -> None:
    props = WriterProperties(max_row_group_size=rows_per_group) if rows_per_group else None
    write_deltalake(str(lake / GOLD_FEATURES), table, mode="overwrite", writer_properties=props)


def _pandas_path(scorer: LeadScorer, frame: pd.DataFrame) -> pd.DataFrame:
    """The reference: the core scorer on the whole frame (the online path on a batch of these rows)."""
    want = scorer.score(encode_frame(scorer.encoder, frame), explain=True)
    cols = feature_columns(frame, scorer.spec)
    reasons = [
        json.dumps(scorer.reasons(want, i, {k: plain(v[i]) for k, v in cols.items()})) for i in range(len(frame))
    ]
    out = {"lead_id": frame["lead_id"], "score": want.score, "probability": want.probability, "tier": want.tier}
    return pd.DataFrame({**out, "reasons": reasons}).sort_values("lead_id").reset_index(drop=True)


@pytest.mark.parametrize(
    ("n", "seed", "rows_per_group", "batch_rows", "partitions"),
    [(1500, 21, None, 97, 0), (2300, 22, 500, 10_000, 0), (900, 23, None, 40, 3)],
    ids=["one-row-group", "row-groups", "three-partitions"],
)
def test_spark_scores_are_the_pandas_path_on_the_same_rows(
    spark,
    artifact: Path,
    tmp_path: Path,
    n: int,
    seed: int,
    rows_per_group: int | None,
    batch_rows: int,
    partitions: int,
) -> None:
    lake = tmp_path / "lake"
    gold = pa.Table.from_batches([gold_batch(LeadScorer(artifact).load().spec, n, seed)])
    _write_gold(lake, gold, rows_per_group)
    settings = BatchSettings(arrow_batch_rows=batch_rows, partitions=partitions)
    scored = score_to_delta(lake, artifact, "7", spark, settings=settings)
    gold_version = scored.gold_version

    delta = DeltaTable(str(lake / SCORES_TABLE)).to_pandas().sort_values("lead_id").reset_index(drop=True)
    want = _pandas_path(LeadScorer(artifact).load(), gold.to_pandas())
    assert len(delta) == n == scored.rows and delta["lead_id"].is_unique
    assert scored.delta_version == DeltaTable(str(lake / SCORES_TABLE)).version()
    assert list(delta["lead_id"]) == list(want["lead_id"])
    np.testing.assert_array_equal(delta["probability"].to_numpy(), want["probability"].to_numpy())
    assert list(delta["tier"]) == list(want["tier"]) and list(delta["score"]) == list(want["score"])
    assert list(delta["reasons"]) == list(want["reasons"])
    assert set(delta["model_version"]) == {"7"} and set(delta["gold_version"]) == {gold_version}


def test_single_lead_online_scoring_agrees(spark, artifact: Path, tmp_path: Path) -> None:
    """One lead at a time (the endpoint's compiled path): the same tier and reasons, the probability to 1e-6."""
    lake = tmp_path / "lake"
    scorer = LeadScorer(artifact).load()
    gold = pa.Table.from_batches([gold_batch(scorer.spec, 300, 24)])
    _write_gold(lake, gold, None)
    score_to_delta(lake, artifact, "7", spark)
    by_id = {r["lead_id"]: r for r in DeltaTable(str(lake / SCORES_TABLE)).to_pyarrow_table().to_pylist()}
    frame = gold.to_pandas()
    for i in range(0, 300, 15):
        row = frame.iloc[[i]].reset_index(drop=True)
        one = scorer.score(encode_frame(scorer.encoder, row), explain=True)
        values = {k: plain(v[0]) for k, v in feature_columns(row, scorer.spec).items()}
        got = by_id[row["lead_id"][0]]
        np.testing.assert_allclose(got["probability"], one.probability[0], rtol=1e-6, atol=1e-9)
        assert got["tier"] == one.tier[0]
        online = scorer.reasons(one, 0, values)
        batch = json.loads(got["reasons"])
        assert [r["feature"] for r in batch] == [r["feature"] for r in online]
        np.testing.assert_allclose([r["contribution"] for r in batch], [r["contribution"] for r in online], atol=2e-6)


def test_duplicate_leads_in_gold_are_scored_once_as_their_newest_row(spark, artifact: Path, tmp_path: Path) -> None:
    """Repeats appended in a later file with other feature values: each lead scored once, as its newest row."""
    lake = tmp_path / "lake"
    spec = LeadScorer(artifact).load().spec
    gold = pa.Table.from_batches([gold_batch(spec, 200, 25)])
    repeats = pa.Table.from_batches([gold_batch(spec, 30, 26)]).set_column(0, "lead_id", gold.column("lead_id")[10:40])
    _write_gold(lake, gold, None)
    write_deltalake(str(lake / GOLD_FEATURES), repeats.cast(gold.schema), mode="append")
    scored = score_to_delta(lake, artifact, "7", spark, settings=BatchSettings(partitions=3))
    delta = DeltaTable(str(lake / SCORES_TABLE)).to_pandas().sort_values("lead_id").reset_index(drop=True)
    newest = pa.concat_tables([gold.slice(0, 10), repeats.cast(gold.schema), gold.slice(40)])
    want = _pandas_path(LeadScorer(artifact).load(), newest.to_pandas())
    assert scored.rows == 200 and len(delta) == 200 and delta["lead_id"].is_unique
    np.testing.assert_array_equal(delta["probability"].to_numpy(), want["probability"].to_numpy())
    assert list(delta["reasons"]) == list(want["reasons"])


def test_a_failed_run_leaves_the_table_and_its_folder_as_they_were(
    spark, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    gold = pa.Table.from_batches([gold_batch(LeadScorer(artifact).load().spec, 300, 27)])
    _write_gold(lake, gold, 100)
    first = score_to_delta(lake, artifact, "7", spark)
    folder = lake / SCORES_TABLE
    files_before = sorted(p.name for p in folder.iterdir())
    rows_before = DeltaTable(str(folder)).to_pandas().sort_values("lead_id").reset_index(drop=True)

    from deltalake import DeltaTable as RealTable

    def refuse(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise OSError("commit refused (test)")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="commit refused"):
        patch.setattr(RealTable, "create_write_transaction", refuse)
        score_to_delta(lake, artifact, "8", spark)
    assert sorted(p.name for p in folder.iterdir()) == files_before
    assert DeltaTable(str(folder)).version() == first.delta_version
    pd.testing.assert_frame_equal(
        DeltaTable(str(folder)).to_pandas().sort_values("lead_id").reset_index(drop=True), rows_before
    )

    more = pa.Table.from_batches([gold_batch(LeadScorer(artifact).load().spec, 300, 28)])
    write_deltalake(str(lake / GOLD_FEATURES), more.cast(gold.schema), mode="append")
    _break_last_column(Path(DeltaTable(str(lake / GOLD_FEATURES)).file_uris()[0]))
    with pytest.raises(Exception, match="(?i)thrift|page|parquet|deserializ"):
        score_to_delta(lake, artifact, "9", spark, settings=BatchSettings(partitions=2))
    assert sorted(p.name for p in folder.iterdir()) == files_before  # the task that succeeded left no file
    assert DeltaTable(str(folder)).version() == first.delta_version


def _break_last_column(path: Path) -> None:
    """Overwrite the page header of the file's last column chunk: the footer (and lead_id) still read, the
    worker that decodes that column fails."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    offset = meta.row_group(0).column(meta.num_columns - 1).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 24] = b"\xff" * 24
    path.write_bytes(bytes(data))


def test_task_slots_follow_the_master() -> None:
    def session(master: str, parallelism: int = 8) -> SimpleNamespace:
        return SimpleNamespace(sparkContext=SimpleNamespace(master=master, defaultParallelism=parallelism))

    assert task_slots(session("local[2]")) == 2
    assert task_slots(session("local")) == 1
    assert task_slots(session("local[3,2]")) == 3
    assert 1 <= task_slots(session("local[*]")) <= (os.cpu_count() or 1)
    assert task_slots(session("spark://host:7077", 12)) == 12


@pytest.mark.parametrize(
    ("cpu_max", "cap"), [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1), ("", None)]
)
def test_local_star_respects_a_pod_cpu_limit(tmp_path: Path, cpu_max: str, cap: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(path) == (min(affinity, cap) if cap else affinity)
    assert available_cpus(tmp_path / "missing") == affinity
