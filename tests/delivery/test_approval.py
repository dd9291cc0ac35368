"""The shadow-approved score shift: built from a replay, kept in the registry history, read by the analysis,
and the distribution it makes the canary's live scores be judged against."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from logdata import write_log
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.delivery import approval
from leadscore.delivery.checks import SideStats, judge, psi_from_buckets
from leadscore.registry.lifecycle import State, Transition
from leadscore.registry.registry import Registry
from leadscore_core.settings import CanaryThresholds
from training.errors import TransitionRefused


def histogram(scores: np.ndarray) -> list[tuple[float, float]]:
    """Cumulative (le, count) pairs as Prometheus returns ``leadscore_score_bucket``."""
    return [(le, float(np.sum(scores <= le))) for le in approval.SCORE_EDGES] + [(math.inf, float(len(scores)))]


def pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Served scores and a retrain's scores of the same leads: higher, noisy, order mostly kept."""
    rng = np.random.default_rng(seed)
    served = np.rint(rng.beta(2, 5, n) * 100)
    candidate = np.clip(np.rint(100 * (served / 100) ** 0.6 + rng.normal(0, 4, n)), 0, 100)
    return served, candidate


def side(version: int, scores: np.ndarray) -> SideStats:
    return SideStats(version, 5000, 0, 0.02, histogram(scores), 0, 0)


def test_bins_follow_the_prometheus_le_bounds() -> None:
    assert approval.bin_of([0, 10, 10.5, 11, 99, 100, 100.5]).tolist() == [0, 0, 1, 1, 9, 9, 10]


def test_the_matrix_counts_each_lead_once_from_its_served_bin_to_its_new_bin() -> None:
    served, candidate = pair(5000, 1)
    shift = approval.from_scores(served, candidate, 1, 2)
    m = np.asarray(shift.transitions)
    assert m.shape == (approval.BINS, approval.BINS) and m.sum() == shift.rows == 5000
    assert m.sum(axis=1).tolist() == np.bincount(approval.bin_of(served), minlength=approval.BINS).tolist()
    assert m.sum(axis=0).tolist() == np.bincount(approval.bin_of(candidate), minlength=approval.BINS).tolist()
    assert shift.score_psi == pytest.approx(psi_from_buckets(histogram(served), histogram(candidate)), abs=1e-4)


def test_on_the_replayed_traffic_the_expected_histogram_is_the_candidates_replay() -> None:
    served, candidate = pair(5000, 2)
    expected = approval.from_scores(served, candidate, 1, 2).expected(histogram(served))
    assert [le for le, _ in expected] == [le for le, _ in histogram(candidate)]
    assert [c for _, c in expected] == pytest.approx([c for _, c in histogram(candidate)])


def test_an_unchanged_model_expects_what_stable_serves() -> None:
    served, _ = pair(3000, 3)
    live = np.rint(np.random.default_rng(4).beta(3, 4, 800) * 100)  # today's traffic, not the replayed mix
    expected = approval.from_scores(served, served, 1, 2).expected(histogram(live))
    assert [c for _, c in expected] == pytest.approx([c for _, c in histogram(live)])


def test_a_stable_bin_the_replay_never_saw_takes_the_candidates_overall_replay_distribution() -> None:
    shift = approval.from_scores([5, 5, 15, 15], [25, 35, 35, 35], 1, 2)  # bins 0, 1 only
    live = [(le, 0.0) for le in approval.SCORE_EDGES[:5]] + [(le, 8.0) for le in approval.SCORE_EDGES[5:]]
    counts = np.diff([0.0, *(c for _, c in shift.expected([*live, (math.inf, 8.0)]))])
    assert counts.tolist() == pytest.approx([0, 0, 2, 6, 0, 0, 0, 0, 0, 0, 0])  # 8 leads in bin 5 -> 1/4 : 3/4


def test_other_buckets_are_refused() -> None:
    shift = approval.from_scores([5, 15], [5, 15], 1, 2)
    with pytest.raises(ValueError, match="bounds"):
        shift.expected([(0.5, 1.0), (math.inf, 2.0)])


def test_evidence_survives_json_and_a_broken_one_is_ignored() -> None:
    served, candidate = pair(500, 5)
    shift = approval.from_scores(served, candidate, 1, 2)
    assert approval.parse(json.loads(json.dumps(shift.as_evidence()))) == shift
    assert approval.parse({"shadow_replay": {"rows": 3}}) is None
    assert approval.parse({"shadow_replay": {**shift.as_evidence()["shadow_replay"], "transitions": [[1]]}}) is None
    assert approval.parse({"verdict": {}}) is None


def entry(seq: int, evidence: dict, to: str = "shadow") -> Transition:  # type: ignore[type-arg]
    return Transition(seq, f"2026-11-0{seq}T00:00:00Z", "t", "shadow", to, "why", evidence)


def test_the_analysis_uses_the_latest_approval_against_the_current_stable() -> None:
    older = approval.from_scores([5, 15], [15, 25], 1, 2)
    newer = approval.from_scores([5, 15, 25], [15, 25, 35], 1, 2)
    history = [entry(1, older.as_evidence()), entry(2, newer.as_evidence()), entry(3, {}, "canary 10%")]
    ref = approval.latest(history, 1)
    assert ref.shift == newer and ref.label == "vs the shadow-approved shift"
    assert "3 replayed leads" in ref.note and "2026-11-02" in ref.note
    other = approval.latest(history, 5)
    assert other.shift is None and other.label == "vs stable (the shadow approved a shift from v1, stable is v5)"
    none = approval.latest([entry(1, {"storage_uri": "x"})], 1)
    assert none.shift is None and none.label == "vs stable (no shadow evidence)"


def test_judged_against_the_approval_a_shifted_candidate_passes_and_a_wrong_one_fails() -> None:
    t = CanaryThresholds()
    served, candidate = pair(20000, 6)
    ref = approval.latest([entry(1, approval.from_scores(served, candidate, 1, 2).as_evidence())], 1)
    live_stable, live_candidate = pair(3000, 7)
    _, other_leads = pair(3000, 8)
    vs_stable = judge(side(2, other_leads), side(1, live_stable), t)
    assert vs_stable.failed == ["score_psi"] and "vs stable (limit" in vs_stable.checks[2].detail
    approved = judge(side(2, other_leads), side(1, live_stable), t, ref)
    assert approved.status == "pass" and "vs the shadow-approved shift" in approved.checks[2].detail
    # a different model than the one shadowed (stable's own scores under the candidate's name) is off the approval
    wrong = judge(side(2, live_stable), side(1, live_stable), t, ref)
    assert wrong.failed == ["score_psi"]
    beyond = judge(side(2, np.clip(live_candidate + 25, 0, 100)), side(1, live_stable), t, ref)
    assert beyond.failed == ["score_psi"]


# -- the registry and the CLI ----------------------------------------------------------------------------------
def test_evidence_is_an_entry_that_moves_nothing_and_only_in_shadow(store: Path) -> None:
    reg = Registry()
    before = len(reg.history("2"))
    shift = approval.from_scores([5, 15], [15, 25], 1, 2)
    recorded = reg.record_evidence("2", "shadow replay approved", shift.as_evidence())
    assert reg.state("2") == State("shadow")
    history = reg.history("2")
    assert len(history) == before + 1 and history[-1] == recorded
    assert (recorded.from_state, recorded.to_state, recorded.moved) == ("shadow", "shadow", False)
    assert approval.parse(recorded.evidence) == shift
    reg.promote("2")  # shadow -> canary 10%
    with pytest.raises(TransitionRefused, match="recorded in shadow only"):
        reg.record_evidence("2", "late", shift.as_evidence())


def test_shadow_days_count_from_entering_shadow_not_from_the_approval() -> None:
    from leadscore.delivery.shadow import shadow_since

    moves = [Transition(1, "2026-11-01T00:00:00Z", "t", "staging", "shadow", "why", {})]
    approved = entry(3, approval.from_scores([5], [15], 1, 2).as_evidence())
    assert shadow_since([*moves, approved]) == "2026-11-01T00:00:00Z"
    assert shadow_since([approved]) is None


def test_replay_approve_records_what_the_analysis_reads(
    store: Path, tiny_artifacts: list[Path], tmp_path: Path
) -> None:
    write_log(tmp_path / "log", tiny_artifacts[0], 300, 6, "2026-11-03")  # served by v1, the champion
    write_log(tmp_path / "log", tiny_artifacts[1], 100, 7, "2026-11-03", version="9")  # an older champion's
    args = ["canary", "replay", "--model-version", "2", "--log", str(tmp_path / "log"), "--approve", "--json"]
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["baseline_versions"] == ["1"] and doc["approval_entry"] == Registry().history("2")[-1].seq
    ref = approval.latest(Registry().history("2"), 1)
    assert ref.shift is not None and ref.shift.rows == doc["rows"] and ref.shift.baseline_version == 1
    assert ref.shift.score_psi == pytest.approx(doc["score_psi"], abs=1e-4)


def test_replay_approve_needs_leads_the_champion_served(
    store: Path, tiny_artifacts: list[Path], tmp_path: Path
) -> None:
    write_log(tmp_path / "log", tiny_artifacts[0], 200, 8, "2026-11-03", version="9")
    args = ["canary", "replay", "--model-version", "2", "--log", str(tmp_path / "log"), "--approve"]
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 3 and "no logged leads were served by stable v1 (the log holds v9)" in res.output
    assert approval.latest(Registry().history("2"), 1).shift is None
