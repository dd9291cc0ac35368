"""``leadscore canary analyze``: step the candidate through 10 -> 50 -> 100 %, judge each interval against
stable in Prometheus, roll back at the first failing check, promote and watch on success.

Phases (the Argo workflow runs them as two steps with an approval suspend between, workflows/canary.py):

1. ``steps=(10, 50)``: traffic to the candidate in steps, each baked for its time.
2. ``steps=(100,)`` + ``promote``: full traffic, baked; then the registry promotes the candidate (aliases
   swap, the old champion is archived) and a watch (default 48 h) runs the same checks against the old
   champion's numbers from before the candidate took all traffic; a failure rolls back to it.

The score check compares the candidate's live score distribution with the one its shadow replay approved
(the approval in its registry history, :mod:`leadscore.delivery.approval`), not with stable's: a retrained
model is meant to score differently. Without shadow evidence it compares with stable and says so.

A failed check rolls back at once: canary 0 % (watch: the previous champion's storage pinned again), the
candidate archived with the failing verdict as evidence, ``leadscore_canary_rollbacks_total`` incremented.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from leadscore.delivery import approval, checks, kube
from leadscore.delivery.metrics import AnalysisMetrics
from leadscore.delivery.prom import Prometheus, PrometheusUnavailable
from leadscore.registry.registry import STORAGE_TAG, Registry
from leadscore_core.settings import CanaryThresholds
from training.errors import RegistryError


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...] = (10, 50)
    bake_s: dict[int, int] = field(default_factory=lambda: {10: 86400, 50: 2 * 86400, 100: 3600})
    """Minimum time at each step before it may advance (seed: 1 day at 10 %, 2 days at 50 %)."""
    interval_s: int = 3600
    """Time between two judgements; also the window each judgement looks at."""
    max_wait_factor: float = 3.0
    """A step still without a conclusive verdict after factor x its bake time ends the run inconclusive."""
    promote: bool = False
    """After the last step passes: promote the candidate to production and watch."""
    watch_s: int = 48 * 3600
    reference_window_s: int = 3600
    """When stable no longer has traffic (100 %, watch): stable's window before the candidate took it all."""


@dataclass
class Event:
    at: float
    phase: str
    step: int
    status: str
    detail: str
    verdict: dict[str, Any] | None = None


@dataclass
class Outcome:
    status: str
    """passed | promoted | rolled_back | inconclusive"""
    events: list[Event]


class Analysis:
    """One candidate against the current champion (stable)."""

    def __init__(
        self,
        registry: Registry,
        prom: Prometheus,
        patcher: kube.ServicePatcher,
        candidate: int,
        *,
        plan: Plan,
        thresholds: CanaryThresholds | None = None,
        clock: Clock | None = None,
        metrics: AnalysisMetrics | None = None,
        log: Callable[[Event], None] | None = None,
    ) -> None:
        self.registry, self.prom, self.patcher = registry, prom, patcher
        self.candidate, self.plan = int(candidate), plan
        self.t = thresholds or CanaryThresholds()
        self.clock = clock or WallClock()
        self.metrics = metrics or AnalysisMetrics()
        self.log = log or (lambda e: None)
        self.events: list[Event] = []
        champion = registry.champion()
        if champion is None:
            raise RegistryError("no champion to compare the candidate with")
        self.stable = int(champion.version)
        if self.stable == self.candidate:
            raise RegistryError(f"v{candidate} is already the champion")
        self.candidate_uri = self._storage(self.candidate)
        self.stable_uri = self._storage(self.stable)
        self.reference_at: float | None = None
        self.scores = approval.latest(registry.history(str(self.candidate)), self.stable)
        """What the candidate's live scores are judged against (the shadow-approved shift, or stable)."""

    def _storage(self, version: int) -> str:
        tags = dict(self.registry.resolve(str(version)).tags or {})
        uri = tags.get(STORAGE_TAG)
        if not uri:
            raise RegistryError(
                f"v{version} was never published (no {STORAGE_TAG} tag): `leadscore registry promote` it"
            )
        return uri

    def _event(self, phase: str, step: int, status: str, detail: str, verdict: checks.Verdict | None = None) -> None:
        event = Event(self.clock.now(), phase, step, status, detail, verdict.as_dict() if verdict else None)
        self.events.append(event)
        self.log(event)

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> Outcome:
        for index, step in enumerate(self.plan.steps):
            self._enter(step, first=index == 0)
            status = self._bake("canary", step, self.plan.bake_s.get(step, self.plan.interval_s))
            if status != "passed":
                return Outcome(status, self.events)
        if not self.plan.promote:
            return Outcome("passed", self.events)
        return self._promote_and_watch()

    def _enter(self, step: int, first: bool) -> None:
        state = self.registry.state(str(self.candidate))
        if first and state.stage != "canary":
            body = kube.start_body(self.candidate_uri, self.candidate, step)
        else:
            body = kube.traffic_body(step)
        if not (state.stage == "canary" and state.traffic == step):
            evidence: dict[str, Any] = {"last_verdict": self.events[-1].verdict} if self.events else {}
            if first:
                evidence["score_reference"] = self.scores.note
            self.registry.promote(
                str(self.candidate), "canary", traffic=step, why=f"canary analysis: step {step}%", evidence=evidence
            )
        if step == 100 and self.reference_at is None:
            self.reference_at = self.clock.now()
        self.patcher.patch(body)
        self.metrics.traffic.labels(str(self.candidate)).set(step)
        detail = f"v{self.candidate} at {step}% of traffic (stable v{self.stable})"
        if first:
            detail += f"; scores judged {self.scores.note}"
        self._event("canary", step, "step", detail)

    def _bake(self, phase: str, step: int, bake_s: int) -> str:
        start = self.clock.now()
        while True:
            self.clock.sleep(self.plan.interval_s)
            now = self.clock.now()
            verdict = self._judge(now)
            self.metrics.evaluations.labels(verdict.status).inc()
            if verdict.status == "fail":
                self._event(phase, step, "fail", "failed: " + ", ".join(verdict.failed), verdict)
                self._rollback(phase, step, verdict)
                return "rolled_back"
            if verdict.status == "pass" and now - start >= bake_s:
                self._event(phase, step, "passed", f"baked {int(now - start)}s", verdict)
                return "passed"
            self._event(phase, step, verdict.status, _summary(verdict), verdict)
            if now - start >= bake_s * self.plan.max_wait_factor:
                self._event(phase, step, "inconclusive", "no conclusive verdict in time; traffic left as is")
                return "inconclusive"

    def _judge(self, now: float) -> checks.Verdict:
        w = self.plan.interval_s
        try:
            canary = checks.side_stats(self.prom, self.candidate, w, now, self.t.top_tiers)
            if self.reference_at is None:
                stable = checks.side_stats(self.prom, self.stable, w, now, self.t.top_tiers)
            else:
                rw = self.plan.reference_window_s
                stable = checks.side_stats(self.prom, self.stable, rw, self.reference_at, self.t.top_tiers)
        except PrometheusUnavailable as exc:
            return checks.Verdict("wait", [checks.Check("prometheus", "wait", str(exc)[:300])])
        return checks.judge(canary, stable, self.t, self.scores)

    def _rollback(self, phase: str, step: int, verdict: checks.Verdict) -> None:
        why = f"{phase} analysis failed at {step}%: " + ", ".join(verdict.failed)
        evidence = {"verdict": verdict.as_dict(), "step": step, "phase": phase}
        if phase == "canary":
            self.patcher.patch(kube.traffic_body(0))
            self.registry.archive(str(self.candidate), why, evidence)
        else:
            self.patcher.patch(kube.start_body(self.stable_uri, self.stable, 100))
            self.registry.rollback(why, evidence)
        self.metrics.traffic.labels(str(self.candidate)).set(0)
        self.metrics.rollbacks.labels(phase).inc()
        self._event(phase, step, "rolled_back", why)

    def _promote_and_watch(self) -> Outcome:
        last = self.events[-1].verdict or {}
        self.registry.promote(
            str(self.candidate), "production", why="canary analysis passed 10/50/100", evidence={"last_verdict": last}
        )
        self._event("watch", 100, "promoted", f"v{self.candidate} is the champion; v{self.stable} archived")
        status = self._bake("watch", 100, self.plan.watch_s)
        return Outcome("promoted" if status == "passed" else status, self.events)


def _summary(verdict: checks.Verdict) -> str:
    return "; ".join(f"{c.name} {c.status}: {c.detail}" for c in verdict.checks)
