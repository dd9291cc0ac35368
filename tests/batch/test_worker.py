"""The Python worker side: one champion per process, batches scored as the pandas/online path scores them, and a
task's unit of gold rows read from Parquet and written as one Parquet file of scores."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.batch import worker
from leadscore.batch.plan import Segment, Unit
from leadscore.batch.reason_json import plain
from leadscore.batch.testkit import gold_batch
from leadscore.batch.worker import (
    OUTPUT_SCHEMA,
    ScoringRun,
    UnitJob,
    WrittenFile,
    artifact_digest,
    artifact_files,
    cached_scorer,
    score_batch,
    unit_file,
    unit_scorer,
)
from leadscore_core.artifact import LeadScorer
from leadscore_core.testkit import make_artifact
from training.features import encode_frame, feature_columns

RUN = ScoringRun("7", 3, datetime(2026, 11, 30, 1, 30, tzinfo=UTC))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("art")
    return make_artifact(root / "a", n=1200, version="7"), make_artifact(root / "b", n=900, version="8", rounds=20)


class _Broadcast:
    """Stands in for a Spark broadcast: counts how often a worker reads the files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.reads = 0

    @property
    def value(self) -> dict[str, bytes]:
        self.reads += 1
        return self.files


def test_the_champion_is_loaded_once_per_worker_process(
    artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = LeadScorer(artifacts[0]).load().spec
    monkeypatch.setattr(worker, "_SCORERS", {})
    loads: list[Path] = []
    real_load = LeadScorer.load

    def counting_load(self: LeadScorer, nthread: int = 1) -> LeadScorer:
        loads.append(self.path)
        return real_load(self, nthread)

    monkeypatch.setattr(LeadScorer, "load", counting_load)
    first = _Broadcast(artifact_files(artifacts[0]))
    job = UnitJob(artifact_digest(first.files), RUN, str(tmp_path), "t1", 1000)
    for seed in range(3):  # three tasks in the same worker process
        pq.write_table(pa.Table.from_batches([gold_batch(spec, 50, seed)]), tmp_path / f"gold{seed}.parquet")
        unit = Unit(seed, (Segment(str(tmp_path / f"gold{seed}.parquet"), 0, 0, 50),))
        out = list(unit_scorer(first, job)(iter([unit])))
        assert out == [WrittenFile(unit_file("t1", unit), (tmp_path / out[0].name).stat().st_size, 50)]
    assert first.reads == 1 and len(loads) == 1
    assert not loads[0].exists()  # the files were written to a scratch dir for the load, then removed

    second = _Broadcast(artifact_files(artifacts[1]))
    other = cached_scorer(artifact_digest(second.files), lambda: second.value)
    assert second.reads == 1 and len(loads) == 2 and other.manifest.provenance["model_version"] == "8"
    assert list(worker._SCORERS) == [artifact_digest(second.files)]  # one champion per worker


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (16, 1), (700, 2)])
def test_a_scored_batch_is_the_pandas_path_on_the_same_rows(artifacts: tuple[Path, Path], n: int, seed: int) -> None:
    scorer = LeadScorer(artifacts[0]).load()
    batch = gold_batch(scorer.spec, n, seed)
    out = score_batch(scorer, batch, RUN)
    assert out.schema == OUTPUT_SCHEMA and out.num_rows == n

    frame = batch.to_pandas()  # the old mapInPandas body, and the online path on a batch of the same rows
    want = scorer.score(encode_frame(scorer.encoder, frame), explain=True, compiled=False)
    cols = feature_columns(frame, scorer.spec)
    reasons = [json.dumps(scorer.reasons(want, i, {k: plain(v[i]) for k, v in cols.items()})) for i in range(n)]
    got = out.to_pydict()
    assert got["lead_id"] == batch.column("lead_id").to_pylist()
    np.testing.assert_array_equal(np.asarray(got["probability"]), want.probability)
    assert got["score"] == want.score.tolist() and got["tier"] == want.tier
    assert got["reasons"] == reasons
    assert set(got["model_version"]) == {"7"} and set(got["gold_version"]) == {3}
    assert set(got["scored_at"]) == {RUN.scored_at}


def test_without_reasons_the_numbers_are_the_scorers_without_explanation(artifacts: tuple[Path, Path]) -> None:
    scorer = LeadScorer(artifacts[0]).load()
    batch = gold_batch(scorer.spec, 300, 4)
    out = score_batch(scorer, batch, ScoringRun(RUN.model_version, RUN.gold_version, RUN.scored_at, reasons=False))
    want = scorer.score(encode_frame(scorer.encoder, batch.to_pandas()), compiled=False)
    np.testing.assert_array_equal(np.asarray(out.column("probability")), want.probability)
    assert out.column("tier").to_pylist() == want.tier
    assert set(out.column("reasons").to_pylist()) == {"[]"}


def test_lead_ids_of_another_type_come_out_as_strings(artifacts: tuple[Path, Path]) -> None:
    scorer = LeadScorer(artifacts[0]).load()
    batch = gold_batch(scorer.spec, 5, 6)
    batch = batch.set_column(0, "lead_id", pa.array(range(100, 105), type=pa.int64()))
    assert score_batch(scorer, batch, RUN).column("lead_id").to_pylist() == ["100", "101", "102", "103", "104"]


@pytest.mark.parametrize(
    ("n", "group_rows", "segments", "batch_rows"),
    [
        (500, 200, [(0, 50, 200), (1, 0, 200), (2, 0, 70)], 64),
        (300, 300, [(0, 0, 300)], 1000),
        (90, 30, [(2, 5, 6)], 7),
    ],
    ids=["ranges-of-three-groups", "one-group-whole", "one-row"],
)
def test_a_unit_is_read_scored_and_written_as_its_rows(
    artifacts: tuple[Path, Path],
    tmp_path: Path,
    n: int,
    group_rows: int,
    segments: list[tuple[int, int, int]],
    batch_rows: int,
) -> None:
    """The file holds exactly the unit's rows, in order, minus the skipped ones, scored as one batch would be."""
    scorer = LeadScorer(artifacts[0]).load()
    gold = pa.Table.from_batches([gold_batch(scorer.spec, n, 9)])
    pq.write_table(gold, tmp_path / "gold.parquet", row_group_size=group_rows)
    skips = [tuple(o for o in (1, 3) if o < b - a) for _, a, b in segments]
    path = str(tmp_path / "gold.parquet")
    unit = Unit(4, tuple(Segment(path, g, a, b, s) for (g, a, b), s in zip(segments, skips, strict=True)))
    job = UnitJob(artifact_digest(artifact_files(artifacts[0])), RUN, str(tmp_path / "out"), "t2", batch_rows)
    (tmp_path / "out").mkdir()
    [written] = list(unit_scorer(_Broadcast(artifact_files(artifacts[0])), job)(iter([unit])))

    kept = [
        g * group_rows + a + i for (g, a, b), s in zip(segments, skips, strict=True) for i in range(b - a) if i not in s
    ]
    table = pq.read_table(tmp_path / "out" / written.name)
    assert written.rows == table.num_rows == unit.rows == len(kept) and table.schema == OUTPUT_SCHEMA
    assert table.column("lead_id").to_pylist() == [gold.column("lead_id")[i].as_py() for i in kept]
    want = score_batch(scorer, gold.take(kept).to_batches(max_chunksize=len(kept))[0], RUN)
    np.testing.assert_array_equal(table.column("probability").to_numpy(), want.column("probability").to_numpy())
    assert table.column("reasons").to_pylist() == want.column("reasons").to_pylist()


def test_a_fresh_worker_scores_without_importing_scikit_learn(artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    """In a new process (a cold Python worker): no scikit-learn import, the same numbers, sklearn still usable."""
    import subprocess
    import sys

    scorer = LeadScorer(artifacts[0]).load()
    gold = pa.Table.from_batches([gold_batch(scorer.spec, 200, 11)])
    pq.write_table(gold, tmp_path / "gold.parquet")
    code = f"""
import sys
from pathlib import Path
from leadscore.batch import worker
scorer = worker.cached_scorer("d", lambda: worker.artifact_files(Path({str(artifacts[0])!r})))
print("sklearn" in sys.modules)
import pyarrow.parquet as pq
batch = pq.read_table({str(tmp_path / "gold.parquet")!r}).to_batches()[0]
from datetime import datetime, UTC
out = worker.score_batch(scorer, batch, worker.ScoringRun("7", 3, datetime(2026, 1, 1, tzinfo=UTC)))
pq.write_table(__import__("pyarrow").Table.from_batches([out]), {str(tmp_path / "out.parquet")!r})
import sklearn.base
print(sklearn.base.BaseEstimator.__name__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "BaseEstimator"]
    got = pq.read_table(tmp_path / "out.parquet")
    want = score_batch(scorer, gold.to_batches()[0], RUN)
    np.testing.assert_array_equal(got.column("probability").to_numpy(), want.column("probability").to_numpy())
    assert got.column("reasons").to_pylist() == want.column("reasons").to_pylist()
