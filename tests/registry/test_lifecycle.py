"""The lifecycle state machine: pure transition table, then the full walk on a real SQLite MLflow registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import mlflow
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.registry import lifecycle
from leadscore.registry.lifecycle import State
from leadscore.registry.registry import Registry
from training.errors import TransitionRefused

PASSED = {"gate_decision": "promoted"}


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (State("development"), State("staging")),
        (State("staging"), State("shadow")),
        (State("shadow"), State("canary", 10)),
        (State("canary", 10), State("canary", 50)),
        (State("canary", 50), State("canary", 100)),
        (State("canary", 100), State("production")),
    ],
)
def test_the_chain_is_legal_one_step_at_a_time(current: State, target: State) -> None:
    assert lifecycle.next_state("7", current) == target
    assert lifecycle.check_transition("7", current, target, PASSED) == "promote"


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (State("development"), State("production"), "only legal promotion is development -> staging"),
        (State("staging"), State("canary", 10), "staging -> shadow"),
        (State("shadow"), State("canary", 50), "shadow -> canary 10%"),
        (State("canary", 10), State("canary", 100), "canary 10% -> canary 50%"),
        (State("canary", 50), State("production"), "canary 50% -> canary 100%"),
        (State("canary", 10), State("canary", 30), "must be one of 10/50/100"),
        (State("production"), State("canary", 10), "already in production"),
        (State("archived"), State("staging"), "archived versions are never promoted"),
        (State("archived"), State("archived"), "already archived"),
        (State("development"), State("bogus"), "unknown stage"),
    ],
)
def test_everything_else_is_refused_with_the_reason(current: State, target: State, message: str) -> None:
    with pytest.raises(TransitionRefused, match=message):
        lifecycle.check_transition("7", current, target, PASSED)


@pytest.mark.parametrize("decision", ["rejected", "bootstrap", None])
def test_staging_needs_the_gate_to_have_promoted_the_version(decision: str | None) -> None:
    tags = {"gate_decision": decision, "gate_reason": "gain +0.001 < +0.02"} if decision else {}
    with pytest.raises(TransitionRefused, match="cannot enter staging: the promotion gate decided"):
        lifecycle.check_transition("4", State("development"), State("staging"), tags)


def test_registration_is_gated_too() -> None:
    lifecycle.check_registration("development", {"gate_decision": "rejected"})
    lifecycle.check_registration("staging", PASSED)
    lifecycle.check_registration("production", {"gate_decision": "bootstrap"})
    with pytest.raises(TransitionRefused, match="cannot enter staging"):
        lifecycle.check_registration("staging", {"gate_decision": "rejected"})
    with pytest.raises(TransitionRefused, match="bootstrap champion"):
        lifecycle.check_registration("production", PASSED)
    with pytest.raises(TransitionRefused, match="not 'shadow'"):
        lifecycle.check_registration("shadow", PASSED)


def test_state_from_tags() -> None:
    assert lifecycle.state_of({}) == State("development")
    assert lifecycle.state_of({"lifecycle": "canary", "canary_traffic": "50"}) == State("canary", 50)
    assert str(State("canary", 50)) == "canary 50%"
    with pytest.raises(TransitionRefused, match="unknown lifecycle 'live'"):
        lifecycle.state_of({"lifecycle": "live"})


# ----------------------------------------------------------------------------------- real registry


def test_full_walk_publishes_once_and_keeps_every_transition(add_version: Callable[..., int]) -> None:
    champion = add_version("production", "bootstrap")
    candidate = add_version("staging", "promoted", artifact=1)
    reg = Registry()
    published: list[int] = []

    def publish(version: int) -> str:
        published.append(version)
        return f"file:///store/lead-scoring/v{version}"

    walk = []
    for _ in range(6):  # shadow, canary 10/50/100, production
        result = reg.promote(str(candidate), why="step", evidence={"n": len(walk)}, publish=publish)
        walk.append(result["to"])
        if result["to"] == "production":
            break
    assert walk == ["shadow", "canary 10%", "canary 50%", "canary 100%", "production"]
    assert published == [candidate]  # once, when it first needed serving
    versions = {v.version: v for v in reg.versions()}
    assert versions[candidate].aliases == ["champion"] and versions[champion].lifecycle == "archived"
    assert versions[candidate].tags["storage_uri"] == f"file:///store/lead-scoring/v{candidate}"
    history = reg.history(str(candidate))
    pairs = [(h.from_state, h.to_state) for h in history]
    assert pairs == [
        ("registered", "staging"),
        ("staging", "shadow"),
        ("shadow", "canary 10%"),
        ("canary 10%", "canary 50%"),
        ("canary 50%", "canary 100%"),
        ("canary 100%", "production"),
    ]
    assert [h.seq for h in history] == list(range(1, 7))
    assert all(h.who == "test-operator" and h.at.endswith("Z") for h in history)
    assert history[0].evidence["gate_decision"] == "promoted"
    assert history[1].evidence["storage_uri"].endswith(f"v{candidate}") and history[2].evidence == {"n": 1}
    old = reg.history(str(champion))
    assert [(h.from_state, h.to_state) for h in old] == [("registered", "production"), ("production", "archived")]
    assert old[-1].why == f"replaced by v{candidate}"

    rolled = reg.rollback("watch failed", {"p99_ms": 900})
    assert rolled == {"from_version": candidate, "to_version": champion}
    assert reg.state(str(champion)) == State("production") and reg.state(str(candidate)) == State("archived")
    assert reg.history(str(candidate))[-1].evidence == {"p99_ms": 900}
    assert len(reg.history(str(candidate))) == 7  # appended, nothing rewritten
    with pytest.raises(TransitionRefused, match="archived versions are never promoted"):
        reg.promote(str(candidate))


def test_a_gate_rejected_version_never_reaches_staging_by_any_path(add_version: Callable[..., int]) -> None:
    add_version("production", "bootstrap")
    rejected = add_version("development", "rejected")
    reg = Registry()
    with pytest.raises(TransitionRefused, match="gate decided 'rejected'"):
        reg.promote(str(rejected))
    with pytest.raises(TransitionRefused, match="gate decided 'rejected'"):
        reg.promote(str(rejected), "staging")
    res = CliRunner().invoke(build_app(), ["registry", "promote", str(rejected), "--json"])
    assert res.exit_code == 3 and "gate decided 'rejected'" in res.output
    assert reg.state(str(rejected)) == State("development")
    assert [h.to_state for h in reg.history(str(rejected))] == ["development"]


def test_a_failed_canary_is_archived_with_its_evidence(add_version: Callable[..., int]) -> None:
    add_version("production", "bootstrap")
    candidate = add_version("staging")
    reg = Registry()
    reg.promote(str(candidate))
    reg.promote(str(candidate))
    big = {"verdict": {"checks": [{"name": "p99_latency", "detail": "x" * 6000}]}}
    reg.archive(str(candidate), "canary analysis failed at 10%: p99_latency", big)
    last = reg.history(str(candidate))[-1]
    assert (last.from_state, last.to_state) == ("canary 10%", "archived")
    # too large for a tag: the evidence went to the run as an artifact, the entry points at it
    stored = mlflow.artifacts.load_text(last.evidence["artifact"])
    assert json.loads(stored) == big
    assert reg.versions()[0].aliases == []


def test_history_cli_and_the_champion_cannot_be_archived(add_version: Callable[..., int]) -> None:
    champion = add_version("production", "bootstrap")
    app = build_app()
    res = CliRunner().invoke(app, ["registry", "archive", str(champion)])
    assert res.exit_code == 3 and "replaces it" in res.output
    res = CliRunner().invoke(app, ["registry", "history", str(champion), "--json"])
    entries = json.loads(res.stdout)
    assert [(e["from_state"], e["to_state"], e["who"]) for e in entries] == [
        ("registered", "production", "test-operator")
    ]
