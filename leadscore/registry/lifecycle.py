"""The model lifecycle state machine: stages, canary traffic steps, legal transitions and their history.

development -> staging -> shadow -> canary 10% -> 50% -> 100% -> production -> archived.

* Into staging only through the promotion gate: the version's ``gate_decision`` tag must be ``promoted``
  (it beat the champion on its own holdout), on every path (registration, ``registry promote``, the API).
* A candidate (development..canary) may be retired to archived; a canary that fails its analysis is rolled
  back to archived.
* The production version is archived only by being replaced (a canary reaching production) or by a
  rollback, which brings the version it replaced back from archived to production.

Every transition is appended to the version's history (:class:`Transition`): who, when, from, to, why, and
the evidence. Evidence gathered within a stage (the shadow replay's approved score shift) is appended the
same way, as an entry whose from and to are the same state. Illegal transitions raise
:class:`TransitionRefused` with the reason.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from training.errors import TransitionRefused

LIFECYCLE_TAG: Final = "lifecycle"
TRAFFIC_TAG: Final = "canary_traffic"
"""Set while a version is in canary: the percent of traffic it receives (10, 50 or 100)."""
HISTORY_PREFIX: Final = "lifecycle.history."
"""One model-version tag per transition, ``lifecycle.history.0001``...: written once, never overwritten."""
STAGES: Final = ("development", "staging", "shadow", "canary", "production", "archived")
CHAIN: Final = ("development", "staging", "shadow", "canary", "production")
CANDIDATES: Final = ("development", "staging", "shadow", "canary")
CANARY_STEPS: Final = (10, 50, 100)
ALIASES: Final = {"staging": "challenger", "shadow": "shadow", "canary": "canary", "production": "champion"}
"""Stage -> registry alias held by the (single) version in that stage."""
STAGE_OF_ALIAS: Final = {alias: stage for stage, alias in ALIASES.items()}
GATE_PASSED: Final = "promoted"
"""The ``gate_decision`` tag value that admits a version into staging."""


@dataclass(frozen=True)
class State:
    """Where a version is: its stage and, in canary, its traffic percent."""

    stage: str
    traffic: int | None = None

    def __str__(self) -> str:
        return f"canary {self.traffic}%" if self.stage == "canary" else self.stage


@dataclass(frozen=True)
class Transition:
    """One entry of a version's history."""

    seq: int
    at: str
    who: str
    from_state: str
    to_state: str
    why: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def moved(self) -> bool:
        """False for an entry that only records evidence (``Registry.record_evidence``: from = to)."""
        return self.from_state != self.to_state


def state_of(tags: dict[str, str]) -> State:
    """The version's state from its tags (a version without a ``lifecycle`` tag is in development)."""
    stage = tags.get(LIFECYCLE_TAG, "development")
    if stage not in STAGES:
        raise TransitionRefused(f"unknown lifecycle {stage!r}; expected one of {', '.join(STAGES)}")
    traffic = tags.get(TRAFFIC_TAG)
    return State(stage, int(traffic) if stage == "canary" and traffic else (10 if stage == "canary" else None))


def next_state(version: str, current: State) -> State:
    """The one state a version may be promoted to."""
    if current.stage == "production":
        raise TransitionRefused(f"v{version} is already in production (the champion); nothing to promote it to")
    if current.stage == "archived":
        raise TransitionRefused(
            f"v{version} is archived; archived versions are never promoted again (only `leadscore registry "
            "rollback` brings back the champion a version replaced)"
        )
    if current.stage == "canary":
        steps = [s for s in CANARY_STEPS if s > (current.traffic or 0)]
        return State("canary", steps[0]) if steps else State("production")
    target = CHAIN[CHAIN.index(current.stage) + 1]
    return State(target, CANARY_STEPS[0] if target == "canary" else None)


def check_gate(version: str, tags: dict[str, str]) -> None:
    """Refuse entry into staging unless the promotion gate passed this version."""
    decision = tags.get("gate_decision")
    if decision != GATE_PASSED:
        reason = tags.get("gate_reason") or "no gate decision recorded"
        raise TransitionRefused(
            f"v{version} cannot enter staging: the promotion gate decided {decision or 'nothing'!r} ({reason}); "
            "only a version that beat the champion (gate_decision=promoted) is staged"
        )


def check_transition(version: str, current: State, target: State, tags: dict[str, str]) -> str:
    """Raise :class:`TransitionRefused` unless ``current -> target`` is legal; return its kind.

    Kinds: ``promote`` (one step forward), ``retire`` (candidate -> archived), ``rollback`` (canary ->
    archived after failed analysis, or production <-> archived), ``replace`` (champion archived because a
    canary took production).
    """
    if target.stage not in STAGES:
        raise TransitionRefused(f"unknown stage {target.stage!r}; expected one of {', '.join(STAGES)}")
    if target.stage == "canary" and target.traffic not in CANARY_STEPS:
        steps = "/".join(map(str, CANARY_STEPS))
        raise TransitionRefused(f"canary traffic must be one of {steps} percent, not {target.traffic}")
    if target.stage == "archived":
        if current.stage == "archived":
            raise TransitionRefused(f"v{version} is already archived")
        return "retire" if current.stage in CANDIDATES else "replace"
    if target.stage == "production" and current.stage == "archived":
        return "rollback"
    expected = next_state(version, current)
    if target != expected:
        raise TransitionRefused(
            f"v{version} is in {current}; the only legal promotion is {current} -> {expected} (asked {current} -> "
            f"{target}); versions move development -> staging -> shadow -> canary 10% -> 50% -> 100% -> production"
        )
    if target.stage == "staging":
        check_gate(version, tags)
    return "promote"


def check_registration(stage: str, tags: dict[str, str]) -> None:
    """A new version enters the lifecycle only where its gate decision puts it."""
    if stage not in ("development", "staging", "production"):
        raise TransitionRefused(f"a new version is registered in development, staging or production, not {stage!r}")
    if stage == "staging":
        check_gate("new", tags)
    if stage == "production" and tags.get("gate_decision") != "bootstrap":
        raise TransitionRefused(
            "a new version goes straight to production only as the bootstrap champion (gate_decision=bootstrap)"
        )


def history(tags: dict[str, str]) -> list[Transition]:
    """The version's transitions, oldest first."""
    out = []
    for key in sorted(k for k in tags if k.startswith(HISTORY_PREFIX)):
        raw = json.loads(tags[key])
        out.append(Transition(**raw))
    return out


def next_seq(tags: dict[str, str]) -> int:
    return 1 + max((int(k[len(HISTORY_PREFIX) :]) for k in tags if k.startswith(HISTORY_PREFIX)), default=0)


def history_key(seq: int) -> str:
    return f"{HISTORY_PREFIX}{seq:04d}"


def actor() -> str:
    """Who made the transition: ``LEADSCORE_ACTOR`` (set by workflows) or the OS user."""
    explicit = os.environ.get("LEADSCORE_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
