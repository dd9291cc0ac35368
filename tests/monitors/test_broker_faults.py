"""The broker hop behind faults: the local broker's deliveries and the drift detector's outbox are bounded;
an undeliverable event is dead-lettered (broker) or kept for retry (outbox), never blocks intake."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from leadscore_monitors.consumer import build_app
from leadscore_monitors.detectors.base import build_detector
from leadscore_monitors.drift import DriftConsumer
from leadscore_monitors.forwarder import LocalBroker, Subscription
from leadscore_monitors.reference import load_reference
from leadscore_monitors.settings import DriftSettings

HEADERS = {"ce-type": "org.kubeflow.serving.inference.request", "ce-id": "e1", "content-type": "application/json"}


@pytest.mark.parametrize(("mode", "bound"), [("closed", 1.0), ("blackhole", 0.4 * 3 + 1.0)])
def test_broker_delivery_is_bounded_and_dead_letters(
    fault_server: Callable[..., Any], free_port: int, tmp_path: Path, mode: str, bound: float
) -> None:
    port = free_port if mode == "closed" else fault_server("blackhole").port
    dead = tmp_path / "dead.jsonl"

    async def run() -> float:
        broker = LocalBroker(
            [Subscription(f"http://127.0.0.1:{port}/")],
            retries=2,
            backoff=0.01,
            dead_letter=dead,
            client=httpx.AsyncClient(timeout=0.4),
        )
        t = time.monotonic()
        await broker.publish(HEADERS, b"{}")
        took = time.monotonic() - t
        await broker.aclose()
        assert broker.dead_lettered == 1 and broker.delivered == 0
        return took

    took = asyncio.run(run())
    assert took < bound
    record = json.loads(dead.read_text().splitlines()[0])
    assert record["url"].endswith(f":{port}/") and record["status"]  # the reason is kept


def test_drift_outbox_to_a_blackholed_broker_retries_and_keeps_the_event(
    artifact: Path, tmp_path: Path, fault_server: Callable[..., Any]
) -> None:
    hole = fault_server("blackhole")
    settings = DriftSettings(
        model_dir=artifact, state_dir=tmp_path, reply_url=f"http://127.0.0.1:{hole.port}/", reply_timeout_seconds=0.3
    )
    consumer = DriftConsumer(settings, build_detector("alibi", load_reference(artifact)))
    with TestClient(build_app(consumer, tmp_path)) as client:
        assert consumer.store is not None
        consumer.store.conn.execute("INSERT INTO outbox (id, headers, body) VALUES ('d1', '{}', x'7b7d')")
        deadline = time.monotonic() + 10
        attempts = 0
        while attempts < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            attempts = consumer.store.conn.execute("SELECT attempts FROM outbox WHERE id = 'd1'").fetchone()[0]
        assert attempts >= 3  # about one attempt per 0.3 s timeout (+0.5 s pause), not one per minute
        t = time.monotonic()
        assert client.get("/healthz").status_code == 200 and time.monotonic() - t < 1.0
        assert client.get("/stats").json()["outbox_pending"] == 1
