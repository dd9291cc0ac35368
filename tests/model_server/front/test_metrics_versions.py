"""The series a canary analysis compares carry the model version that answered each request."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import CollectorRegistry

from leadscore_core import load_spec
from leadscore_core.testkit import sample_lead
from leadscore_front.front import PredictorUnavailable, ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.settings import FrontSettings

LEAD = sample_lead("crm_freezone", "L-1")  # every feature key: the API requires them all (null = unknown)


def make(revision: str = "lead-scoring-predictor-00002") -> tuple[ScoringFront, CollectorRegistry]:
    reg = CollectorRegistry()
    metrics = FrontMetrics(reg, revision)
    metrics.set_model("lead-scoring", "3", "crm_freezone", "f")
    return ScoringFront(load_spec("crm_freezone"), FrontSettings(rate_limit=""), metrics), reg


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("answered_by", ["3", "4"])
def test_a_scored_request_is_counted_under_the_version_that_answered(answered_by: str) -> None:
    front, reg = make()

    async def score(parsed):  # noqa: ANN001, ANN202
        front.metrics.scored([12, 87], ["D", "A"], answered_by)
        return [{"lead_id": i, "model_version": answered_by} for i in parsed.lead_ids]

    reply = asyncio.run(front.handle(json.dumps(LEAD).encode(), {}, "127.0.0.1", score))
    assert reply.status == 200
    rev = "lead-scoring-predictor-00002"
    assert value(reg, "leadscore_requests_total", revision=rev, model_version=answered_by, status="200") == 1
    assert (
        value(reg, "leadscore_request_duration_seconds_count", revision=rev, model_version=answered_by, status="200")
        == 1
    )
    assert value(reg, "leadscore_score_count", revision=rev, model_version=answered_by) == 2
    assert value(reg, "leadscore_score_bucket", revision=rev, model_version=answered_by, le="20.0") == 1
    assert value(reg, "leadscore_tier_total", revision=rev, model_version=answered_by, tier="A") == 1


def test_refused_and_failed_requests_count_under_the_loaded_version() -> None:
    front, reg = make("r1")

    async def down(parsed):  # noqa: ANN001, ANN202
        raise PredictorUnavailable("connection refused")

    assert asyncio.run(front.handle(b"{oops", {}, "127.0.0.1", down)).status == 400
    assert asyncio.run(front.handle(json.dumps(LEAD).encode(), {}, "127.0.0.1", down)).status == 503
    assert value(reg, "leadscore_requests_total", revision="r1", model_version="3", status="400") == 1
    assert value(reg, "leadscore_requests_total", revision="r1", model_version="3", status="503") == 1
