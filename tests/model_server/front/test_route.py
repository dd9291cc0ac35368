"""The one ``/score-lead`` handler (leadscore_front.route.score_lead): every reply is counted once in
``leadscore_requests_total``, also the ones refused before :meth:`ScoringFront.handle` runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from leadscore_core import load_spec
from leadscore_front.front import ParsedLeads, ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.route import score_lead
from leadscore_front.settings import FrontSettings

LEAD = {"lead_id": "L-1", "lead_source": "website", "license_type": "commercial", "visas_requested": 2}


async def _stream(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def _no_score(parsed: ParsedLeads) -> list[dict[str, Any]]:
    raise AssertionError("a refused request must not be scored")


def _counts(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.labels["status"]: s.value
        for m in registry.collect()
        if m.name == "leadscore_requests"
        for s in m.samples
        if s.name == "leadscore_requests_total"
    }


def _front(registry: CollectorRegistry, max_body: int = 1024) -> ScoringFront:
    settings = FrontSettings(rate_limit="", max_body_bytes=max_body)
    return ScoringFront(load_spec("crm_freezone"), settings, FrontMetrics(registry, "r1"))


def _call(front: ScoringFront | None, headers: dict[str, str], chunks: list[bytes], **kw: Any) -> Any:
    return asyncio.run(score_lead(front, headers, "127.0.0.1", _stream(chunks), _no_score, **kw))


@pytest.mark.parametrize("chunk_sizes", [[1025], [400, 400, 400], [100] * 11])
def test_a_body_over_the_limit_is_refused_while_reading_and_counted(chunk_sizes: list[int]) -> None:
    registry = CollectorRegistry()
    reply = _call(_front(registry), {}, [b"x" * n for n in chunk_sizes])
    assert reply.status == 413 and json.loads(reply.body)["issues"][0]["field"] == "body"
    assert _counts(registry) == {"413": 1.0}


@pytest.mark.parametrize(("length", "status"), [("5000", 413), ("many", 400)])
def test_a_declared_length_is_refused_before_reading_and_counted(length: str, status: int) -> None:
    registry = CollectorRegistry()
    reply = _call(_front(registry), {"content-length": length}, [b"{}"])
    assert reply.status == status
    assert _counts(registry) == {str(status): 1.0}


def test_not_loaded_is_counted_in_the_metrics_given() -> None:
    registry = CollectorRegistry()
    metrics = FrontMetrics(registry, "r1", component="predictor")
    for _ in range(3):
        reply = _call(None, {}, [b"{}"], metrics=metrics)
        assert reply.status == 503 and reply.headers["retry-after"] == "1"
    assert _counts(registry) == {"503": 3.0}
    assert _call(None, {}, [b"{}"]).status == 503  # no metrics yet: still answered


def test_a_handled_request_is_counted_once() -> None:
    registry = CollectorRegistry()
    body = json.dumps({**LEAD, "visas_requested": 999}).encode()
    reply = _call(_front(registry, max_body=10_000), {"content-type": "application/json"}, [body])
    assert reply.status == 422
    assert _counts(registry) == {"422": 1.0}
