"""The score shift the shadow stage approved, and the distribution the canary's live scores are judged against.

A retrained model after a real market shift is meant to score the same traffic differently from the champion,
so the canary's score check does not compare the candidate with stable. It compares the candidate with what
its shadow replay showed and approved:

* **Recorded.** The shadow replay (``leadscore canary replay --approve``; the shadow stage of ``leadscore
  canary local``) re-scores the logged requests the stable version served with the candidate. The approval
  is the count matrix *stable's score bin -> candidate's score bin* over the same leads, on the front's score
  buckets (``leadscore_score``). It is appended to the candidate's registry history as an entry that moves
  nothing (shadow -> shadow), evidence key :data:`EVIDENCE_KEY`.
* **Read.** :func:`latest` takes the candidate's most recent approval whose baseline is the current stable
  version; an approval made against another champion, or none at all, is ``None`` with the reason, and the
  check falls back to canary vs stable and says so in the verdict.
* **Judged.** In each interval the expected candidate histogram is stable's live histogram pushed through the
  approved matrix (:meth:`ApprovedShift.expected`): exactly the candidate's shadow-replay distribution while
  live traffic looks like the replayed traffic, and the same per-score shift applied to today's mix when the
  traffic has moved since. A stable score bin the replay never saw takes the candidate's overall replay
  distribution. PSI(expected, live canary) is held to the same ``LEADSCORE_CANARY_MAX_PSI``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from leadscore.registry.lifecycle import Transition

EVIDENCE_KEY: Final = "shadow_replay"
SCORE_EDGES: Final = tuple(float(b) for b in range(10, 101, 10))
"""The front's score histogram bounds (``leadscore_score``); one more bin (+Inf) follows the last."""
BINS: Final = len(SCORE_EDGES) + 1


def bin_of(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """The histogram bin of each score: the first bound ``le`` with ``score <= le`` (+Inf: the last bin)."""
    return np.searchsorted(np.asarray(SCORE_EDGES), np.asarray(scores, dtype=np.float64), side="left")


@dataclass(frozen=True)
class ApprovedShift:
    """What the shadow replay showed: stable's served score bin -> the candidate's score bin, in leads."""

    candidate_version: int
    baseline_version: int
    """The stable version whose served scores are the rows of :attr:`transitions`."""
    rows: int
    transitions: list[list[int]]
    """``transitions[i][j]``: replayed leads stable scored in bin ``i`` and the candidate in bin ``j``."""
    score_psi: float
    """PSI of the candidate's replay scores against the served ones (how far the approved shift goes)."""

    def expected(self, baseline: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """The candidate's expected histogram, as cumulative (le, count) pairs on ``baseline``'s bounds,
        given stable's histogram ``baseline`` (cumulative (le, count) pairs, +Inf last)."""
        bounds = [le for le, _ in baseline]
        if bounds != [*SCORE_EDGES, float("inf")]:
            raise ValueError(f"the score histogram has bounds {bounds}, the approval {[*SCORE_EDGES, 'inf']}")
        counts = np.diff(np.asarray([0.0, *(c for _, c in baseline)])).clip(min=0.0)
        matrix = np.asarray(self.transitions, dtype=np.float64)
        overall = matrix.sum(axis=0) / max(matrix.sum(), 1.0)
        seen = matrix.sum(axis=1, keepdims=True)
        rows = np.where(seen > 0, matrix / np.where(seen > 0, seen, 1.0), overall)
        out = counts @ rows
        return list(zip(bounds, np.cumsum(out).tolist(), strict=True))

    def describe(self) -> str:
        shift = f"v{self.baseline_version} -> v{self.candidate_version}"
        return f"the shadow-approved shift ({shift} on {self.rows} replayed leads)"

    def as_evidence(self) -> dict[str, Any]:
        return {EVIDENCE_KEY: asdict(self)}


def from_scores(
    baseline_scores: Sequence[float] | np.ndarray,
    candidate_scores: Sequence[float] | np.ndarray,
    baseline_version: int,
    candidate_version: int,
) -> ApprovedShift:
    """The approval of one replay: the served scores of ``baseline_version`` and the candidate's, lead by lead."""
    from leadscore_core.stats import psi

    old, new = bin_of(baseline_scores), bin_of(candidate_scores)
    if len(old) != len(new) or len(old) == 0:
        raise ValueError(f"an approval needs one candidate score per served score, got {len(new)} and {len(old)}")
    matrix = np.zeros((BINS, BINS), dtype=np.int64)
    np.add.at(matrix, (old, new), 1)
    shift_psi = psi(np.bincount(old, minlength=BINS), np.bincount(new, minlength=BINS))
    return ApprovedShift(
        int(candidate_version), int(baseline_version), len(old), matrix.tolist(), round(float(shift_psi), 4)
    )


def parse(evidence: Mapping[str, Any]) -> ApprovedShift | None:
    """The approval in a history entry's evidence, None when the entry holds none (or an unreadable one)."""
    raw = evidence.get(EVIDENCE_KEY)
    if not isinstance(raw, Mapping):
        return None
    try:
        shift = ApprovedShift(
            int(raw["candidate_version"]),
            int(raw["baseline_version"]),
            int(raw["rows"]),
            [[int(c) for c in row] for row in raw["transitions"]],
            float(raw["score_psi"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if len(shift.transitions) != BINS or any(len(row) != BINS for row in shift.transitions):
        return None
    return shift


@dataclass(frozen=True)
class ScoreReference:
    """What the canary's live scores are compared with: the approved shift, or (None) stable's scores."""

    shift: ApprovedShift | None
    label: str
    """Short: shown in every score_psi verdict (``vs the shadow-approved shift``, ``vs stable (why)``)."""
    note: str
    """Long: which approval (or why none), shown when the canary starts and kept in its history."""


VS_STABLE: Final = ScoreReference(None, "vs stable", "vs stable")


def latest(history: Sequence[Transition], stable_version: int) -> ScoreReference:
    """The candidate's most recent approval against ``stable_version``; otherwise stable, and why."""
    for entry in reversed(history):
        shift = parse(entry.evidence)
        if shift is None:
            continue
        if shift.baseline_version != int(stable_version):
            return ScoreReference(
                None,
                f"vs stable (the shadow approved a shift from v{shift.baseline_version}, stable is v{stable_version})",
                f"vs stable: the shadow replay of {entry.at} approved a shift from v{shift.baseline_version}, "
                f"stable is v{stable_version}",
            )
        return ScoreReference(shift, "vs the shadow-approved shift", f"vs {shift.describe()}, recorded {entry.at}")
    return ScoreReference(
        None,
        "vs stable (no shadow evidence)",
        "vs stable: no shadow evidence (no approved shadow replay in the version's history)",
    )
