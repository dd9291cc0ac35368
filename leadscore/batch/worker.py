"""The Python side of batch scoring: Arrow batches of gold rows in, Arrow batches of scores out.

Spark's ``mapInArrow`` calls :func:`batch_scorer`'s function once per partition, in a Python worker process
that Spark reuses across tasks. The champion travels as the artifact's files (a broadcast variable, so a
worker on another host needs no shared disk) and is loaded (digests and probe rows checked) once per worker
process: :data:`_SCORERS` keeps it, keyed by the sha256 of its manifest (which records the digest of every
other file). Each batch is encoded from Arrow (:mod:`leadscore.batch.arrow_features`), scored by XGBoost
whatever its size (``compiled=False``: a lead gets the same numbers in any batch) and its reasons serialized
per batch (:mod:`leadscore.batch.reason_json`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from leadscore.batch.arrow_features import encode_batch
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


def cached_scorer(digest: str, files: Callable[[], dict[str, bytes]]) -> LeadScorer:
    """This process' scorer for the artifact ``digest``; built from ``files()`` (and checked) on first use."""
    scorer = _SCORERS.get(digest)
    if scorer is None:
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


def batch_scorer(
    model: Any, digest: str, run: ScoringRun
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` body. ``model``: a Spark broadcast of :func:`artifact_files` (or anything with
    ``.value``), read only by a worker that has not loaded ``digest`` yet."""

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = cached_scorer(digest, lambda: model.value)
        for batch in batches:
            yield score_batch(scorer, batch, run)

    return score_batches
