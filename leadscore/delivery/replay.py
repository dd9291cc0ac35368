"""``leadscore canary replay``: re-score the requests production really logged (the bronze Delta inference
log the monitors' sink writes) with a candidate, and report the score and tier shift against what the
champion answered.

The log holds the cleaned feature values of every scored lead (no PII) with the score, tier and model
version that answered, so the comparison is on real traffic, not generated data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow.compute as pc
from deltalake import DeltaTable

from leadscore.delivery.checks import psi_from_buckets
from leadscore_core.artifact import LeadScorer
from leadscore_core.storage import storage_options
from training.errors import RegistryError

SCORE_EDGES = tuple(float(b) for b in range(10, 101, 10))
"""The front's score histogram bounds (``leadscore_score``), so replay PSI and live PSI mean the same."""


@dataclass
class ReplayReport:
    rows: int
    candidate_version: str
    baseline_versions: list[str]
    mean_score_baseline: float
    mean_score_candidate: float
    mean_abs_shift: float
    score_psi: float
    tier_changed_share: float
    tier_matrix: dict[str, dict[str, int]]
    """baseline tier -> candidate tier -> leads"""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_logged(
    uri: str, feature_names: list[str], start: date | None, end: date | None, extra: tuple[str, ...] = ()
) -> dict[str, list[Any]]:
    """Feature values, score, tier and model version (+ ``extra``) of every logged lead, ``start <= date <= end``."""
    try:
        table = DeltaTable(uri, storage_options=storage_options(uri))
    except Exception as exc:  # deltalake's TableNotFoundError
        raise RegistryError(f"{uri}: no Delta inference log there ({exc})") from exc
    present = set(table.schema().to_arrow().names)
    missing = [n for n in (*feature_names, "score", "tier", "model_version", "date", *extra) if n not in present]
    if missing:
        raise RegistryError(f"{uri}: the inference log lacks the columns {missing} the candidate needs")
    expr = None
    if start is not None:
        expr = pc.field("date") >= start.isoformat()
    if end is not None:
        e = pc.field("date") <= end.isoformat()
        expr = e if expr is None else expr & e
    cols = [*feature_names, "score", "tier", "model_version", *extra]
    data = table.to_pyarrow_dataset().to_table(filter=expr, columns=cols)
    data = data.filter(pc.is_valid(data["score"]))
    return {name: data[name].to_pylist() for name in cols}


def replay(log: dict[str, list[Any]], candidate: LeadScorer, candidate_version: str) -> ReplayReport:
    """Score the logged leads with ``candidate``; compare with the logged (served) scores and tiers."""
    if candidate.encoder is None:
        raise RegistryError("the candidate artifact is not loaded")
    n = len(log["score"])
    if n == 0:
        raise RegistryError("no logged leads in that period: nothing to replay")
    names = candidate.spec.feature_names
    records = [{name: log[name][i] for name in names} for i in range(n)]
    batch = candidate.score(candidate.encoder.encode_records(records))
    new = np.rint(batch.probability * 100).astype(np.int64)
    old = np.asarray(log["score"], dtype=np.int64)
    matrix: dict[str, Counter[str]] = {}
    for a, b in zip(log["tier"], batch.tier, strict=True):
        matrix.setdefault(str(a), Counter())[str(b)] += 1
    return ReplayReport(
        rows=n,
        candidate_version=candidate_version,
        baseline_versions=sorted({str(v) for v in log["model_version"]}),
        mean_score_baseline=float(old.mean()),
        mean_score_candidate=float(new.mean()),
        mean_abs_shift=float(np.abs(new - old).mean()),
        score_psi=psi_from_buckets(_histogram(old), _histogram(new)),
        tier_changed_share=float(np.mean([a != b for a, b in zip(log["tier"], batch.tier, strict=True)])),
        tier_matrix={a: dict(sorted(c.items())) for a, c in sorted(matrix.items())},
    )


def _histogram(scores: np.ndarray) -> list[tuple[float, float]]:
    """Cumulative (le, count) pairs on the front's buckets (+Inf last), like ``leadscore_score_bucket``."""
    return [(le, float(np.sum(scores <= le))) for le in SCORE_EDGES] + [(float("inf"), float(len(scores)))]
