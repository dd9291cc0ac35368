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

from leadscore.delivery.approval import SCORE_EDGES, ApprovedShift, from_scores
from leadscore.delivery.checks import psi_from_buckets
from leadscore_core.artifact import LeadScorer
from leadscore_core.storage import storage_options
from training.errors import RegistryError


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
    new, tiers = _rescore(log, candidate)
    return _report(log, new, tiers, candidate_version)


def served_by(log: dict[str, list[Any]], version: int) -> dict[str, list[Any]]:
    """The logged leads ``version`` answered."""
    keep = [i for i, v in enumerate(log["model_version"]) if str(v) == str(int(version))]
    return {name: [values[i] for i in keep] for name, values in log.items()}


def approve(
    log: dict[str, list[Any]], candidate: LeadScorer, candidate_version: int, stable_version: int
) -> tuple[ReplayReport, ApprovedShift]:
    """Replay the leads the stable version served; the report and the approval of the shift it shows
    (:mod:`leadscore.delivery.approval`)."""
    mine = served_by(log, stable_version)
    if not mine["score"]:
        served = ", ".join(f"v{v}" for v in sorted({str(v) for v in log["model_version"]})) or "nothing"
        raise RegistryError(
            f"no logged leads were served by stable v{stable_version} (the log holds {served}): "
            "nothing to approve the candidate's shift against"
        )
    new, tiers = _rescore(mine, candidate)
    report = _report(mine, new, tiers, str(candidate_version))
    return report, from_scores(mine["score"], new, int(stable_version), int(candidate_version))


def _rescore(log: dict[str, list[Any]], candidate: LeadScorer) -> tuple[np.ndarray, list[str]]:
    """The candidate's scores (0..100, as the front rounds them) and tiers of the logged leads."""
    if candidate.encoder is None:
        raise RegistryError("the candidate artifact is not loaded")
    n = len(log["score"])
    if n == 0:
        raise RegistryError("no logged leads in that period: nothing to replay")
    names = candidate.spec.feature_names
    records = [{name: log[name][i] for name in names} for i in range(n)]
    batch = candidate.score(candidate.encoder.encode_records(records))
    return np.rint(batch.probability * 100).astype(np.int64), [str(t) for t in batch.tier]


def _report(log: dict[str, list[Any]], new: np.ndarray, tiers: list[str], candidate_version: str) -> ReplayReport:
    old = np.asarray(log["score"], dtype=np.int64)
    matrix: dict[str, Counter[str]] = {}
    for a, b in zip(log["tier"], tiers, strict=True):
        matrix.setdefault(str(a), Counter())[b] += 1
    return ReplayReport(
        rows=len(old),
        candidate_version=candidate_version,
        baseline_versions=sorted({str(v) for v in log["model_version"]}),
        mean_score_baseline=float(old.mean()),
        mean_score_candidate=float(new.mean()),
        mean_abs_shift=float(np.abs(new - old).mean()),
        score_psi=psi_from_buckets(_histogram(old), _histogram(new)),
        tier_changed_share=float(np.mean([str(a) != b for a, b in zip(log["tier"], tiers, strict=True)])),
        tier_matrix={a: dict(sorted(c.items())) for a, c in sorted(matrix.items())},
    )


def _histogram(scores: np.ndarray) -> list[tuple[float, float]]:
    """Cumulative (le, count) pairs on the front's buckets (+Inf last), like ``leadscore_score_bucket``."""
    return [(le, float(np.sum(scores <= le))) for le in SCORE_EDGES] + [(float("inf"), float(len(scores)))]
