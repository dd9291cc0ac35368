"""The canary analysis against a real Prometheus (TSDB backfilled with promtool), the real kubernetes client
(recorded by a local API endpoint) and a real MLflow registry. Time is simulated: each judgement queries
Prometheus at the simulated instant, so a 2-hour rollout runs in seconds on recorded series."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promdata
import pytest

from leadscore.delivery import approval, kube
from leadscore.delivery.analysis import Analysis, Plan
from leadscore.delivery.metrics import AnalysisMetrics
from leadscore.delivery.prom import Prometheus
from leadscore.registry.lifecycle import State
from leadscore.registry.registry import Registry
from leadscore_core.settings import CanaryThresholds

MIN = 60
PATH = "/apis/serving.kserve.io/v1beta1/namespaces/leadscore/inferenceservices/lead-scoring"


class SimClock:
    def __init__(self, start: float) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def plan(steps: tuple[int, ...], promote: bool = False) -> Plan:
    return Plan(
        steps=steps,
        bake_s={10: 30 * MIN, 50: 30 * MIN, 100: 20 * MIN},
        interval_s=10 * MIN,
        max_wait_factor=2.0,
        promote=promote,
        watch_s=30 * MIN,
        reference_window_s=10 * MIN,
    )


def run(prometheus: dict[str, Any], patcher: kube.KubePatcher, scenario: str, p: Plan) -> tuple[Any, Analysis]:
    start = prometheus["starts"][scenario]
    analysis = Analysis(
        Registry(),
        Prometheus(prometheus["url"], timeout_s=5, retries=2),
        patcher,
        2,
        plan=p,
        thresholds=CanaryThresholds(),
        clock=SimClock(start),
        metrics=AnalysisMetrics(),
    )
    return analysis.run(), analysis


def judged(outcome: Any, start: float) -> list[tuple[int, int, str]]:
    """(minute, step, status) of every judgement."""
    return [(int((e.at - start) // MIN), e.step, e.status) for e in outcome.events if e.verdict is not None]


def assert_rolled_back_at_minute_50(outcome: Any, start: float, failing: str) -> None:
    """The fault starts at minute 45: every judgement before it passed, the first one after it failed on
    ``failing`` alone."""
    assert outcome.status == "rolled_back"
    assert judged(outcome, start) == [
        (10, 10, "pass"),
        (20, 10, "pass"),
        (30, 10, "passed"),
        (40, 50, "pass"),
        (50, 50, "fail"),
    ], [e.detail for e in outcome.events]
    verdict = outcome.events[-2].verdict
    assert [c["name"] for c in verdict["checks"] if c["status"] == "fail"] == [failing]


def record_approval(baseline_version: int = 1) -> None:
    """The shadow stage's approval of v2's shift: a replay of 20,000 leads through the shifted candidate."""
    served, candidate = promdata.replay_scores(20_000, seed=99)
    shift = approval.from_scores(served, candidate, baseline_version, 2)
    Registry().record_evidence("2", "test: shadow replay approved", shift.as_evidence())


def psi_checks(outcome: Any) -> list[dict[str, Any]]:
    return [c for e in outcome.events if e.verdict for c in e.verdict["checks"] if c["name"] == "score_psi"]


def rollbacks(analysis: Analysis, phase: str) -> float:
    value = analysis.metrics.registry.get_sample_value("leadscore_canary_rollbacks_total", {"phase": phase})
    assert value is not None
    return value


def test_healthy_candidate_is_promoted_then_watched(prometheus, patcher, kube_api, store: Path, validate) -> None:  # noqa: ANN001
    outcome, analysis = run(prometheus, patcher, "healthy", plan((10, 50, 100), promote=True))
    start = prometheus["starts"]["healthy"]
    assert outcome.status == "promoted", [e.detail for e in outcome.events]
    assert judged(outcome, start) == [
        (10, 10, "pass"),
        (20, 10, "pass"),
        (30, 10, "passed"),
        (40, 50, "pass"),
        (50, 50, "pass"),
        (60, 50, "passed"),
        (70, 100, "pass"),
        (80, 100, "passed"),
        (90, 100, "pass"),
        (100, 100, "pass"),
        (110, 100, "passed"),
    ]
    checked = {c["name"]: c["status"] for c in outcome.events[-1].verdict["checks"]}
    assert checked == {
        "success_rate": "pass",
        "p99_latency": "pass",
        "score_psi": "pass",
        "top_tier_conversion": "pass",
    }
    uri = Registry().resolve("2").tags["storage_uri"]
    assert uri.endswith("/lead-scoring/v2")
    assert kube_api.patches == [kube.start_body(uri, 2, 10), kube.traffic_body(50), kube.traffic_body(100)]
    assert kube_api.patches[0] == {
        "metadata": {"labels": {"leadscore.io/model-version": "2"}},
        "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": uri}}},
    }
    assert {(r["path"], r["content_type"]) for r in kube_api.requests} == {(PATH, "application/merge-patch+json")}
    ok, output = validate([kube_api.obj])
    assert ok, output
    reg = Registry()
    assert reg.state("2") == State("production") and reg.state("1") == State("archived")
    assert [h.to_state for h in reg.history("2")][-4:] == ["canary 10%", "canary 50%", "canary 100%", "production"]
    assert rollbacks(analysis, "canary") == 0 and rollbacks(analysis, "watch") == 0


@pytest.mark.parametrize(
    ("scenario", "failing"),
    [
        ("errors", "success_rate"),
        ("latency", "p99_latency"),
        ("score_shift", "score_psi"),
        ("kpi", "top_tier_conversion"),
    ],
)
def test_each_kind_of_unhealthy_rolls_back_at_the_first_failing_check(
    scenario: str,
    failing: str,
    prometheus,
    patcher,
    kube_api,
    store: Path,
    validate,  # noqa: ANN001
) -> None:
    outcome, analysis = run(prometheus, patcher, scenario, plan((10, 50)))
    start = prometheus["starts"][scenario]
    assert_rolled_back_at_minute_50(outcome, start, failing)
    uri = Registry().resolve("2").tags["storage_uri"]
    assert kube_api.patches == [kube.start_body(uri, 2, 10), kube.traffic_body(50), kube.traffic_body(0)]
    assert kube_api.obj["spec"]["predictor"]["canaryTrafficPercent"] == 0
    ok, output = validate([kube_api.obj])
    assert ok, output
    reg = Registry()
    assert reg.state("2") == State("archived") and reg.state("1") == State("production")
    last = reg.history("2")[-1]
    assert (last.from_state, last.to_state) == ("canary 50%", "archived") and failing in last.why
    assert last.evidence["verdict"]["status"] == "fail" and last.evidence["step"] == 50
    assert rollbacks(analysis, "canary") == 1


def test_too_few_samples_waits_and_never_decides(prometheus, patcher, kube_api, store: Path) -> None:  # noqa: ANN001
    outcome, analysis = run(prometheus, patcher, "quiet", plan((10,)))
    start = prometheus["starts"]["quiet"]
    assert outcome.status == "inconclusive"
    assert judged(outcome, start) == [(m, 10, "wait") for m in (10, 20, 30, 40, 50, 60)]
    assert "too few requests" in outcome.events[1].verdict["checks"][0]["detail"]
    assert len(kube_api.patches) == 1  # the 10 % step only: no rollback, no advance
    assert Registry().state("2") == State("canary", 10)
    assert rollbacks(analysis, "canary") == 0
    assert analysis.metrics.registry.get_sample_value("leadscore_canary_evaluations_total", {"verdict": "wait"}) == 6


def test_a_fault_in_the_watch_rolls_back_to_the_previous_champion(prometheus, patcher, kube_api, store: Path) -> None:  # noqa: ANN001
    outcome, analysis = run(prometheus, patcher, "watch_latency", plan((10, 50, 100), promote=True))
    start = prometheus["starts"]["watch_latency"]
    assert outcome.status == "rolled_back"
    assert judged(outcome, start)[-2:] == [(80, 100, "passed"), (90, 100, "fail")]
    old_uri = Registry().resolve("1").tags["storage_uri"]
    assert kube_api.patches[-1] == kube.start_body(old_uri, 1, 100)
    reg = Registry()
    assert reg.state("1") == State("production") and reg.state("2") == State("archived")
    assert "watch analysis failed at 100%: p99_latency" in reg.history("2")[-1].why
    assert rollbacks(analysis, "watch") == 1


def test_prometheus_down_is_a_bounded_wait_not_a_verdict(patcher, kube_api, store: Path) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    analysis = Analysis(
        Registry(),
        Prometheus(dead, timeout_s=1, retries=2, backoff_s=0.01),
        patcher,
        2,
        plan=plan((10,)),
        clock=SimClock(1_700_000_000),
    )
    outcome = analysis.run()
    assert outcome.status == "inconclusive"
    assert {c["name"] for e in outcome.events if e.verdict for c in e.verdict["checks"]} == {"prometheus"}
    assert Registry().state("2") == State("canary", 10)


def test_a_shifted_candidate_is_judged_against_its_shadow_approval_and_promoted(
    prometheus,
    patcher,
    kube_api,
    store: Path,  # noqa: ANN001
) -> None:
    record_approval()
    outcome, analysis = run(prometheus, patcher, "shifted", plan((10, 50, 100), promote=True))
    start = prometheus["starts"]["shifted"]
    assert outcome.status == "promoted", [e.detail for e in outcome.events]
    assert [status for _, _, status in judged(outcome, start)] == ["pass", "pass", "passed"] * 2 + [
        "pass",
        "passed",
    ] + [
        "pass",
        "pass",
        "passed",
    ]
    checks = psi_checks(outcome)
    assert len(checks) == 11 and all(c["status"] == "pass" for c in checks)
    assert all("vs the shadow-approved shift" in c["detail"] for c in checks)
    # the live scores are the shifted ones: against stable's, every interval would have failed
    vs_stable = [float(re.search(r"vs stable (\d+\.\d+)", c["detail"]).group(1)) for c in checks]  # type: ignore[union-attr]
    assert min(vs_stable) > 2 * CanaryThresholds().max_psi
    assert "scores judged vs the shadow-approved shift (v1 -> v2 on 20000 replayed leads)" in outcome.events[0].detail
    entered = next(h for h in Registry().history("2") if h.to_state == "canary 10%")
    assert entered.evidence["score_reference"].startswith("vs the shadow-approved shift")
    assert Registry().state("2") == State("production") and rollbacks(analysis, "watch") == 0


def test_without_shadow_evidence_the_score_check_falls_back_to_stable_and_says_so(
    prometheus,
    patcher,
    kube_api,
    store: Path,  # noqa: ANN001
) -> None:
    outcome, analysis = run(prometheus, patcher, "shifted", plan((10, 50)))
    start = prometheus["starts"]["shifted"]
    assert outcome.status == "rolled_back"
    assert judged(outcome, start) == [(10, 10, "fail")]
    verdict = outcome.events[-2].verdict
    assert [c["name"] for c in verdict["checks"] if c["status"] == "fail"] == ["score_psi"]
    (check,) = [c for c in verdict["checks"] if c["name"] == "score_psi"]
    assert "vs stable (no shadow evidence)" in check["detail"]
    assert "scores judged vs stable: no shadow evidence" in outcome.events[0].detail
    assert Registry().state("2") == State("archived") and rollbacks(analysis, "canary") == 1


def test_an_approval_made_against_another_champion_is_not_used(prometheus, patcher, kube_api, store: Path) -> None:  # noqa: ANN001
    record_approval(baseline_version=7)
    outcome, _ = run(prometheus, patcher, "shifted", plan((10, 50)))
    assert outcome.status == "rolled_back"
    (check,) = psi_checks(outcome)
    assert check["status"] == "fail" and "(the shadow approved a shift from v7, stable is v1)" in check["detail"]
    assert "the shadow replay of" in outcome.events[0].detail


@pytest.mark.parametrize(
    ("scenario", "failing"),
    [
        ("shifted_errors", "success_rate"),
        ("shifted_latency", "p99_latency"),
        ("shifted_score_shift", "score_psi"),
    ],
)
def test_an_approved_shifted_candidate_still_rolls_back_at_the_first_failing_check(
    scenario: str,
    failing: str,
    prometheus,
    patcher,
    kube_api,
    store: Path,  # noqa: ANN001
) -> None:
    record_approval()
    outcome, analysis = run(prometheus, patcher, scenario, plan((10, 50)))
    start = prometheus["starts"][scenario]
    assert_rolled_back_at_minute_50(outcome, start, failing)
    assert all("shadow-approved shift" in c["detail"] for c in psi_checks(outcome))
    reg = Registry()
    assert reg.state("2") == State("archived") and failing in reg.history("2")[-1].why
    assert kube_api.obj["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert rollbacks(analysis, "canary") == 1
