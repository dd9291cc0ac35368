"""The local logger stand-in never reaches the cluster manifests; every consumer has a Trigger."""

from __future__ import annotations

from pathlib import Path

import yaml

from leadscore_core.events import OUTCOME_TYPE

EVENTING = Path(__file__).resolve().parents[2] / "manifests" / "eventing"


def docs() -> list[dict]:
    out = []
    for f in sorted(EVENTING.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return out


def test_no_logger_stand_in_in_the_cluster() -> None:
    for d in docs():
        text = yaml.safe_dump(d)
        assert "leadscore_monitors, logger" not in text and "- logger\n" not in text


def test_one_trigger_per_consumer_on_the_logger_types() -> None:
    all_docs = docs()
    triggers = {d["metadata"]["name"]: d for d in all_docs if d.get("kind") == "Trigger"}
    deployments = {d["metadata"]["name"] for d in all_docs if d.get("kind") == "Deployment"}
    assert set(triggers) == deployments - {"event-dead-letter"}
    for name in ("inference-log", "drift-detector", "shadow-scorer"):
        types = {f["exact"]["type"] for f in triggers[name]["spec"]["filters"][0]["any"]}
        assert types == {"org.kubeflow.serving.inference.request", "org.kubeflow.serving.inference.response"}
    (outcome,) = triggers["outcome-metrics"]["spec"]["filters"]
    assert outcome == {"exact": {"type": OUTCOME_TYPE}}  # the outcome job's reports, nothing else
    broker = next(d for d in all_docs if d.get("kind") == "Broker")
    assert broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] == "event-dead-letter"
    assert broker["spec"]["delivery"]["retry"] >= 3
