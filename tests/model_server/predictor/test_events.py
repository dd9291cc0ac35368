"""EventEmitter against real local HTTP sinks: format, counting, full queue, dead/slow/refusing sinks, drain.

The sink here is a small aiohttp server that records what arrives; the real monitors' consumer is driven
in tests/serving/test_events.py. Every test checks the reconciliation the bench relies on: events received
by the sink == events emitted - events counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from leadscore_core.wire import REQUEST_TYPE, RESPONSE_TYPE, ScoreOutputs
from leadscore_predictor.events import EventEmitter, EventMetrics, EventSettings, v2_bodies

EXT = ("inferenceservicename", "namespace", "component", "endpoint")


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on the stdlib loop and on uvloop (what MLServer runs)."""
    if request.param == "uvloop":
        import uvloop

        monkeypatch.setattr(asyncio, "run", lambda coro: uvloop.run(coro))
    return str(request.param)


@dataclass
class Sink:
    """What a test sink received, and how it answers."""

    status: int = 200
    delay: float = 0.0
    close_after_each: bool = False
    hang: bool = False
    events: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang:
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.events.append(({k.lower(): v for k, v in request.headers.items()}, body))
        headers = {"Connection": "close"} if self.close_after_each else None
        return web.Response(status=self.status, text="{}", headers=headers)


@contextlib.asynccontextmanager
async def serve(sink: Sink) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/leadscore/default", sink.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/leadscore/default"
    finally:
        await runner.cleanup()


def scored(n: int, seed: int, columns: int = 114, features: int = 21) -> tuple[np.ndarray, list[str], ScoreOutputs]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, columns)).astype(np.float32)
    x[rng.random((n, columns)) < 0.1] = np.nan
    contrib = rng.normal(size=(n, features))
    base = np.full(n, -1.25)
    margin = contrib.sum(1) + base
    out = ScoreOutputs(
        probability=1 / (1 + np.exp(-margin)),
        margin=margin,
        tier=[str(t) for t in rng.choice(list("ABCD"), n)],
        contributions=contrib,
        base_value=base,
        model_name="lead-scoring",
        model_version="7",
    )
    return x, [f"key-{seed}-{i}" for i in range(n)], out


def emitter(url: str, **over: Any) -> tuple[EventEmitter, EventMetrics]:
    settings = EventSettings(sink_url=url, **over)
    metrics = EventMetrics(CollectorRegistry(), "r1")
    return EventEmitter(settings, metrics), metrics


def counts(m: EventMetrics) -> dict[str, float]:
    out = {"sent": m.sent._value.get()}
    out.update({r: c._value.get() for r, c in m.dropped.items()})
    return out


async def settle(em: EventEmitter, m: EventMetrics, total: int, timeout: float = 20.0) -> dict[str, float]:
    """Wait until every emitted event is counted (sent or dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = counts(m)
        if sum(c.values()) >= total:
            return c
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all {total} events accounted for: {counts(m)}, pending {em.pending}")


@pytest.mark.parametrize(
    ("sizes", "batch", "conns"), [([1] * 50, 64, 2), ([1, 3, 2, 5] * 10, 7, 1), ([4] * 120, 16, 3)]
)
def test_every_call_becomes_a_kserve_logger_pair(sizes: list[int], batch: int, conns: int) -> None:
    async def main() -> None:
        sink = Sink()
        async with serve(sink) as url:
            em, m = emitter(url, batch=batch, connections=conns, endpoint="canary", namespace="ns1")
            calls = [scored(n, seed) for seed, n in enumerate(sizes)]
            for x, keys, out in calls:
                em.emit(x, keys, out)
            c = await settle(em, m, 2 * len(calls))
            await em.close()
        assert c["sent"] == 2 * len(calls) == len(sink.events)
        assert sum(v for k, v in c.items() if k != "sent") == 0
        by_id: dict[str, dict[str, Any]] = {}
        for headers, body in sink.events:
            assert headers["ce-specversion"] == "1.0" and headers["content-type"] == "application/json"
            assert [headers[f"ce-{e}"] for e in EXT] == ["lead-scoring", "ns1", "predictor", "canary"]
            assert headers["ce-time"].endswith("Z") and headers["ce-source"]
            by_id.setdefault(headers["ce-id"], {})[headers["ce-type"]] = json.loads(body)
        assert len(by_id) == len(calls)  # one ce-id per call, shared by its request and response
        keyed = {tuple(keys): (x, out) for x, keys, out in calls}
        for ce_id, pair in by_id.items():
            req, resp = pair[REQUEST_TYPE], pair[RESPONSE_TYPE]
            assert req["id"] == resp["id"] == ce_id
            x, out = keyed[tuple(req["parameters"]["lead_keys"])]
            (tensor,) = req["inputs"]
            assert tensor["name"] == "features" and tensor["datatype"] == "FP32" and tensor["shape"] == list(x.shape)
            got = np.array([np.nan if v is None else v for v in tensor["data"]], dtype=np.float32).reshape(x.shape)
            np.testing.assert_array_equal(got, x)  # NaN == NaN here; FP32 values exact
            assert req["parameters"]["explain"] is True
            outs = {o["name"]: o for o in resp["outputs"]}
            assert list(outs) == ["probability", "margin", "tier", "contributions"]
            np.testing.assert_allclose(outs["probability"]["data"], out.probability)
            assert outs["tier"]["data"] == out.tier and outs["tier"]["datatype"] == "BYTES"
            contrib = np.array(outs["contributions"]["data"]).reshape(outs["contributions"]["shape"])
            assert contrib.shape == (x.shape[0], out.contributions.shape[1] + 1)
            np.testing.assert_allclose(contrib.sum(1), outs["margin"]["data"], atol=1e-9)
            assert resp["model_version"] == resp["parameters"]["model_version"] == "7"

    asyncio.run(main())


@pytest.mark.parametrize(("queue_size", "calls"), [(5, 20), (1, 3), (40, 41)])
def test_a_full_queue_drops_and_counts(queue_size: int, calls: int) -> None:
    async def main() -> None:
        sink = Sink()
        async with serve(sink) as url:
            em, m = emitter(url, queue_size=queue_size)
            for seed in range(calls):  # no await: the senders cannot run, the queue fills
                em.emit(*scored(1, seed))
            c = await settle(em, m, 2 * calls)
            await em.close()
        assert c["queue_full"] == 2 * (calls - queue_size)
        assert len(sink.events) == c["sent"] == 2 * calls - c["queue_full"]

    asyncio.run(main())


@pytest.mark.parametrize("dead", ["refused", "hangs"])
def test_a_dead_sink_costs_the_request_path_nothing_and_is_counted(dead: str) -> None:
    async def main() -> None:
        sink = Sink(hang=True)
        async with contextlib.AsyncExitStack() as stack:
            if dead == "refused":
                async with serve(Sink()) as gone:  # a port that was just closed
                    url = gone
            else:
                url = await stack.enter_async_context(serve(sink))
            em, m = emitter(url, queue_size=100, batch=10, send_timeout_seconds=0.3, retry_backoff_seconds=0.05)
            worst = 0.0
            for seed in range(300):
                t = time.perf_counter()
                em.emit(*scored(1, seed))
                worst = max(worst, time.perf_counter() - t)
                if seed % 10 == 0:
                    await asyncio.sleep(0.01)  # let the senders run between calls, as a server would
            c = await settle(em, m, 600)
            t = time.perf_counter()
            await em.close()
            closed_in = time.perf_counter() - t
        assert worst < 0.05  # emit never waits for the sink (the send timeout is 0.3 s)
        assert c["sent"] == 0 and c["send_error"] + c["queue_full"] + c["shutdown"] == 600
        assert c["send_error"] > 0
        assert closed_in < 0.3 + 5 + 1.5  # close is bounded by send timeout + drain

    asyncio.run(main())


@pytest.mark.parametrize(("status", "reason"), [(422, "rejected"), (503, "send_error")])
def test_non_2xx_answers_are_drops(status: int, reason: str) -> None:
    async def main() -> None:
        sink = Sink(status=status)
        async with serve(sink) as url:
            em, m = emitter(url)
            for seed in range(15):
                em.emit(*scored(2, seed))
            c = await settle(em, m, 30)
            await em.close()
        assert c[reason] == 30 == len(sink.events) and c["sent"] == 0

    asyncio.run(main())


def test_a_sink_closing_connections_loses_nothing() -> None:
    async def main() -> None:
        sink = Sink(close_after_each=True)
        async with serve(sink) as url:
            em, m = emitter(url, batch=8)
            for seed in range(40):
                em.emit(*scored(1, seed))
                await asyncio.sleep(0)
            c = await settle(em, m, 80)
            await em.close()
        ids = {h["ce-id"] + h["ce-type"] for h, _ in sink.events}
        assert c["sent"] == 80 and len(ids) == 80 and c["send_error"] == 0

    asyncio.run(main())


@pytest.mark.parametrize(("delay", "drain", "all_sent"), [(0.002, 5.0, True), (0.5, 0.3, False)])
def test_shutdown_drains_within_its_bound(delay: float, drain: float, all_sent: bool) -> None:
    async def main() -> None:
        sink = Sink(delay=delay)
        async with serve(sink) as url:
            em, m = emitter(url, batch=4, connections=1, drain_seconds=drain, send_timeout_seconds=1.0)
            for seed in range(60):
                em.emit(*scored(1, seed))
            await asyncio.sleep(0.05)
            t = time.perf_counter()
            await em.close()
            took = time.perf_counter() - t
            c = counts(m)
            received = len({h["ce-id"] + h["ce-type"] for h, _ in sink.events})
        assert sum(c.values()) >= 120 and em.pending == 0
        assert took < drain + 1.0 + 1.5
        if all_sent:
            assert c["sent"] == 120 == received
        else:
            assert c["shutdown"] > 0 and received >= c["sent"]

    asyncio.run(main())


def test_bodies_carry_no_crm_field() -> None:
    x, keys, out = scored(3, 9)
    req, resp = v2_bodies("abc", x, keys, out)
    doc = json.loads(req)
    assert set(doc) == {"id", "inputs", "parameters"} and set(doc["parameters"]) == {"explain", "lead_keys"}
    assert set(json.loads(resp)) == {"id", "model_name", "model_version", "outputs", "parameters"}


@pytest.mark.parametrize(("calls", "batch", "linger"), [(12, 32, 0.3), (40, 16, 0.3), (9, 4, 0.2)])
def test_calls_within_the_linger_leave_together(calls: int, batch: int, linger: float) -> None:
    """One sender is woken per batch: calls emitted while it lingers join its batch (one pipelined write),
    and a queue longer than a batch wakes further senders; nothing is lost or sent twice."""

    async def main() -> None:
        sink = Sink()
        async with serve(sink) as url:
            em, m = emitter(url, batch=batch, connections=4, linger_seconds=linger)
            batches: list[int] = []
            deliver = em._deliver

            async def counted(conn: Any, taken: list[Any]) -> Any:
                batches.append(len(taken))
                return await deliver(conn, taken)

            em._deliver = counted  # type: ignore[method-assign]
            em.start()
            await asyncio.sleep(0.05)  # the senders are idle, waiting
            for seed in range(calls):
                em.emit(*scored(1, seed))
                await asyncio.sleep(0.002)  # a server answering other requests meanwhile
            c = await settle(em, m, 2 * calls)
            await em.close()
        expected = [batch] * (calls // batch) + ([calls % batch] if calls % batch else [])
        assert sorted(batches, reverse=True) == expected
        assert c["sent"] == 2 * calls == len({h["ce-id"] + h["ce-type"] for h, _ in sink.events})

    asyncio.run(main())
