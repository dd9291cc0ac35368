"""The Python side of batch scoring: a task's gold rows in, one Parquet file of scores out.

Spark runs :func:`unit_scorer`'s function once per task, in a Python worker process that Spark reuses
across tasks. The worker reads its :class:`~leadscore.batch.plan.Unit` (row ranges of gold's Parquet row
groups; only ``lead_id`` and the spec's features) itself, scores it in Arrow batches and writes the scores
to one Parquet file of :data:`OUTPUT_SCHEMA` rows, named after the run and the unit (a retried task rewrites
the same file). The driver commits the files to Delta. No rows travel through the JVM.

The champion travels as the artifact's files (a broadcast variable, so a worker on another host needs no
shared disk) and is loaded (digests and probe rows checked) once per worker process: :data:`_SCORERS` keeps
it, keyed by the sha256 of its manifest (which records the digest of every other file). Each batch is
encoded from Arrow (:mod:`leadscore.batch.arrow_features`), scored by XGBoost whatever its size
(``compiled=False``: a lead gets the same numbers in any batch) and its reasons serialized per batch
(:mod:`leadscore.batch.reason_json`).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.batch.arrow_features import encode_batch
from leadscore.batch.plan import Segment, Unit
from leadscore.batch.reason_json import BatchValues, reason_texts
from leadscore_core.artifact import MANIFEST, LeadScorer

OUTPUT_SCHEMA = pa.schema(
    [
        ("lead_id", pa.string()),
        ("score", pa.int64()),
        ("probability", pa.float64()),
        ("tier", pa.string()),
        ("reasons", pa.string()),
        ("model_version", pa.string()),
        ("gold_version", pa.int64()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""One row per scored lead (``gold/lead_scores`` and the CRM's ``lead_scores``)."""

_SCORERS: dict[str, LeadScorer] = {}
"""Loaded champions of this process, by manifest digest (filled on first use, never at import)."""


def artifact_files(path: Path) -> dict[str, bytes]:
    """The files of an artifact directory (flat), by name: what the workers rebuild it from."""
    return {f.name: f.read_bytes() for f in sorted(path.iterdir()) if f.is_file()}


def artifact_digest(files: dict[str, bytes]) -> str:
    """sha256 of the manifest, which records the digest of every other file: the artifact's identity."""
    return hashlib.sha256(files[MANIFEST]).hexdigest()


def import_xgboost_without_sklearn() -> None:
    """Import XGBoost with its scikit-learn wrappers left out, unless either is already imported.

    ``import xgboost`` imports scikit-learn (and SciPy, pandas) for its estimator classes when it is
    installed: 3.8 s of a fresh process on the benchmark machine, against 0.6 s without it, and every Python
    worker of a cold Spark job pays it. A scoring worker uses only the ``Booster``; in this process
    ``xgboost.XGBClassifier`` and friends then lack their scikit-learn base classes (scikit-learn itself still
    imports normally afterwards).
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # xgboost.compat: ImportError -> no sklearn
    try:
        import xgboost  # noqa: F401
    finally:
        del sys.modules["sklearn"]


def cached_scorer(digest: str, files: Callable[[], dict[str, bytes]]) -> LeadScorer:
    """This process' scorer for the artifact ``digest``; built from ``files()`` (and checked) on first use."""
    scorer = _SCORERS.get(digest)
    if scorer is None:
        import_xgboost_without_sklearn()
        scratch = Path(tempfile.mkdtemp(prefix="leadscore-batch-model-"))
        try:
            for name, data in files().items():
                (scratch / name).write_bytes(data)
            scorer = LeadScorer(scratch).load()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _SCORERS.clear()  # one champion per worker: a new one replaces the last
        _SCORERS[digest] = scorer
    return scorer


@dataclass(frozen=True)
class ScoringRun:
    """What every scored row carries besides its numbers."""

    model_version: str
    gold_version: int
    scored_at: datetime
    reasons: bool = True


def score_batch(scorer: LeadScorer, batch: pa.RecordBatch, run: ScoringRun) -> pa.RecordBatch:
    """Score one batch of gold rows (``lead_id`` + the spec's features) into :data:`OUTPUT_SCHEMA` rows."""
    assert scorer.encoder is not None and scorer.manifest is not None
    n = batch.num_rows
    scored = scorer.score(encode_batch(scorer.encoder, batch), explain=run.reasons, compiled=False)
    if run.reasons:
        assert scored.contributions is not None
        values = BatchValues(scorer.spec, batch)
        texts = reason_texts(scored.contributions, scorer.spec.features, values, scorer.manifest.top_k_reasons)
    else:
        texts = pa.repeat(pa.scalar("[]", pa.string()), n)
    lead_id = batch.column("lead_id")
    columns: list[Any] = [
        lead_id if lead_id.type == pa.string() else lead_id.cast(pa.string()),
        pa.array(scored.score, type=pa.int64()),
        pa.array(np.asarray(scored.probability, dtype=np.float64)),
        pa.array(scored.tier, type=pa.string()),
        texts,
        pa.repeat(pa.scalar(run.model_version, pa.string()), n),
        pa.repeat(pa.scalar(run.gold_version, pa.int64()), n),
        pa.repeat(pa.scalar(run.scored_at, pa.timestamp("us", "UTC")), n),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=OUTPUT_SCHEMA)


@dataclass(frozen=True)
class WrittenFile:
    """A Parquet file of scores a task wrote: its name (in the output folder), bytes and rows."""

    name: str
    size: int
    rows: int


def unit_file(tag: str, unit: Unit) -> str:
    """The file a unit's scores go to: one name per run and unit, so a retried task overwrites its own."""
    return f"part-{unit.index:05d}-{tag}.snappy.parquet"


def segment_rows(segment: Segment, columns: list[str]) -> pa.Table:
    """The gold rows of ``segment`` (``columns`` only), without its skipped rows."""
    table = pq.ParquetFile(segment.file).read_row_group(segment.row_group, columns=columns)
    table = table.slice(segment.start, segment.stop - segment.start)
    if segment.skip:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[list(segment.skip)] = False
        table = table.filter(pa.array(keep))
    return table


def score_unit(scorer: LeadScorer, unit: Unit, run: ScoringRun, batch_rows: int, path: Path) -> WrittenFile:
    """Score every row of ``unit`` in batches of ``batch_rows`` into the Parquet file ``path``."""
    columns = ["lead_id", *scorer.spec.feature_names]
    rows = 0
    with pq.ParquetWriter(path, OUTPUT_SCHEMA, compression="snappy") as writer:
        for segment in unit.segments:
            for batch in segment_rows(segment, columns).to_batches(max_chunksize=batch_rows):
                if batch.num_rows:
                    writer.write_batch(score_batch(scorer, batch, run))
                    rows += batch.num_rows
    return WrittenFile(path.name, path.stat().st_size, rows)


@dataclass(frozen=True)
class UnitJob:
    """What every task of one run shares: the champion's identity, the run, the output folder, the batch size."""

    digest: str
    run: ScoringRun
    out_dir: str
    tag: str
    batch_rows: int


def unit_scorer(model: Any, job: UnitJob) -> Callable[[Iterator[Unit]], Iterator[WrittenFile]]:
    """The body of a scoring task (``mapPartitions`` over units). ``model``: a Spark broadcast of
    :func:`artifact_files` (or anything with ``.value``), read only by a worker that has not loaded
    ``job.digest`` yet."""

    def score_units(units: Iterator[Unit]) -> Iterator[WrittenFile]:
        scorer = cached_scorer(job.digest, lambda: model.value)
        for unit in units:
            path = Path(job.out_dir) / unit_file(job.tag, unit)
            yield score_unit(scorer, unit, job.run, job.batch_rows, path)

    return score_units
