"""Canary/stable series in OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

Each scenario is its own time segment (separated by gaps) with stable ``model_version="1"`` and candidate
``model_version="2"``; a fault hits the candidate from ``onset_min`` minutes into the segment. A ``shifted``
candidate is a retrain after a market shift: it scores every lead higher than stable (:func:`shifted`), the
shift its shadow replay approves (:func:`replay_scores`). Counts are
drawn per scrape with a seeded generator, so the numbers are noisy like real traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

STEP_S = 30
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(float(b) for b in range(10, 101, 10))
TIERS = ("A", "B", "C")


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str | None = None
    """None | errors | latency | score_shift | kpi"""
    onset_min: int = 0
    canary_rps: float = 5.0
    minutes: int = 130
    seed: int = 0
    shifted: bool = False
    """The candidate scores each lead :func:`shifted` (a retrain whose scores moved on purpose)."""


SHIFT_POWER = 0.6


def shifted(scores: np.ndarray) -> np.ndarray:
    """The shifted candidate's score of a lead stable scores ``scores`` (0..100): higher, order kept."""
    return 100.0 * (np.clip(scores, 0.0, 100.0) / 100.0) ** SHIFT_POWER


def stable_scores(rng: np.random.Generator, n: int, fault: str | None = None) -> np.ndarray:
    a, b = (5.0, 2.0) if fault == "score_shift" else (2.0, 5.0)
    return rng.beta(a, b, n) * 100


def replay_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(stable's served scores, the shifted candidate's) of ``n`` replayed leads: what a shadow replay sees."""
    served = stable_scores(np.random.default_rng(seed), n)
    return np.rint(served), np.rint(shifted(served))


@dataclass
class Side:
    requests_ok: float = 0.0
    requests_err: float = 0.0
    lat: np.ndarray | None = None
    lat_sum: float = 0.0
    score: np.ndarray | None = None
    score_sum: float = 0.0
    outcomes: dict[tuple[str, str], float] | None = None


def _step(side: Side, rng: np.random.Generator, rps: float, fault: str | None, shift: bool = False) -> None:
    n = int(rng.poisson(rps * STEP_S))
    err_p = 0.05 if fault == "errors" else 0.001
    errs = int(rng.binomial(n, err_p))
    side.requests_ok += n - errs
    side.requests_err += errs
    lat = rng.lognormal(np.log(0.4 if fault == "latency" else 0.02), 0.3, n)
    assert side.lat is not None and side.score is not None and side.outcomes is not None
    side.lat += np.histogram(lat, bins=(0.0, *LATENCY_BUCKETS, np.inf))[0]
    side.lat_sum += float(lat.sum())
    scores = stable_scores(rng, n, fault)
    scores = shifted(scores) if shift else scores
    side.score += np.histogram(scores, bins=(0.0, *SCORE_BUCKETS[:-1], 100.0, np.inf))[0]
    side.score_sum += float(scores.sum())
    outcomes = int(rng.poisson(0.5 * STEP_S * rps / 5.0))
    convert = 0.15 if fault == "kpi" else 0.5
    for tier in TIERS:
        k = int(rng.binomial(outcomes, 0.4 if tier != "C" else 0.2))
        conv = int(rng.binomial(k, convert if tier != "C" else 0.1))
        side.outcomes[(tier, "true")] += conv
        side.outcomes[(tier, "false")] += k - conv


def _new_side() -> Side:
    return Side(
        lat=np.zeros(len(LATENCY_BUCKETS) + 1),
        score=np.zeros(len(SCORE_BUCKETS) + 1),
        outcomes={(t, c): 0.0 for t in TIERS for c in ("true", "false")},
    )


def _lines(version: str, side: Side, ts: int) -> Iterator[tuple[str, str]]:
    mv = f'model_version="{version}"'
    yield "requests", f'leadscore_requests_total{{{mv},status="200"}} {side.requests_ok} {ts}'
    yield "requests", f'leadscore_requests_total{{{mv},status="500"}} {side.requests_err} {ts}'
    assert side.lat is not None and side.score is not None and side.outcomes is not None
    cum = np.cumsum(side.lat)
    for le, c in zip((*LATENCY_BUCKETS, "+Inf"), cum, strict=True):
        yield "latency", f'leadscore_request_duration_seconds_bucket{{{mv},le="{le}"}} {c} {ts}'
    yield "latency", f"leadscore_request_duration_seconds_count{{{mv}}} {cum[-1]} {ts}"
    yield "latency", f"leadscore_request_duration_seconds_sum{{{mv}}} {side.lat_sum} {ts}"
    cum = np.cumsum(side.score)
    for le, c in zip((*SCORE_BUCKETS, "+Inf"), cum, strict=True):
        yield "score", f'leadscore_score_bucket{{{mv},le="{le}"}} {c} {ts}'
    yield "score", f"leadscore_score_count{{{mv}}} {cum[-1]} {ts}"
    yield "score", f"leadscore_score_sum{{{mv}}} {side.score_sum} {ts}"
    for (tier, conv), v in side.outcomes.items():
        yield "outcomes", f'leadscore_outcomes_total{{{mv},tier="{tier}",converted="{conv}"}} {v} {ts}'


FAMILIES = {
    "requests": "# TYPE leadscore_requests counter",
    "latency": "# TYPE leadscore_request_duration_seconds histogram",
    "score": "# TYPE leadscore_score histogram",
    "outcomes": "# TYPE leadscore_outcomes counter",
}


def openmetrics(scenarios: list[tuple[int, Scenario]]) -> str:
    """All scenarios (each with its start, unix seconds) as one OpenMetrics exposition with timestamps."""
    by_family: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for start, sc in scenarios:
        rng = np.random.default_rng(sc.seed)
        stable, canary = _new_side(), _new_side()
        for i in range(sc.minutes * 60 // STEP_S + 1):
            ts = start + i * STEP_S
            faulty = sc.fault if sc.fault and i * STEP_S >= sc.onset_min * 60 else None
            _step(stable, rng, 5.0, None)
            _step(canary, rng, sc.canary_rps, faulty, sc.shifted)
            for version, side in (("1", stable), ("2", canary)):
                for family, line in _lines(version, side, ts):
                    by_family[family].append(line)
    out = []
    for family, header in FAMILIES.items():
        out.append(header)
        out.extend(_sorted_by_series(by_family[family]))
    out.extend(shadow_gauges(scenarios[0][0], scenarios[0][1].minutes))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _sorted_by_series(lines: list[str]) -> list[str]:
    """Group each series' samples together, in time order (stable sort keeps the time order)."""
    return sorted(lines, key=lambda ln: ln.rsplit(" ", 2)[0])


SHADOW = {
    # shadow_version -> (spearman, top-decile overlap, tier agreement): v2 agrees, v3 is broken
    "2": (0.93, 0.81, 0.88),
    "3": (0.41, 0.22, 0.47),
}


def shadow_gauges(start: int, minutes: int) -> list[str]:
    """The shadow scorer's agreement gauges (monitors/shadow.py names) over the first scenario's span."""
    out = []
    for i, name in enumerate(("spearman", "top_decile_overlap", "tier_agreement")):
        out.append(f"# TYPE leadscore_shadow_{name} gauge")
        for version, values in SHADOW.items():
            for k in range(minutes * 60 // STEP_S + 1):
                out.append(f'leadscore_shadow_{name}{{shadow_version="{version}"}} {values[i]} {start + k * STEP_S}')
    return out
