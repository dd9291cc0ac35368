"""``POST /score-lead`` in front of MLServer's REST stack answers exactly what the stack answered.

The MLServer app is built as ``python -m leadscore_predictor`` builds it and driven in process (httpx's ASGI
transport); every request is sent twice, once through the app (the fast path, once installed) and once
straight down the REST stack the fast path wraps, and the two answers are compared.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from mlserver import MLServer
from mlserver.settings import ModelSettings

from leadscore_core.testkit import sample_lead
from leadscore_front.front import Reply
from leadscore_predictor import fastpath
from leadscore_predictor.__main__ import build
from leadscore_predictor.runtime import LeadScoringRuntime
from leadscore_predictor.settings import PredictorSettings

T = TypeVar("T")


@dataclass
class Served:
    """One MLServer of ``python -m leadscore_predictor`` with the model loaded (MLServer registers its metrics
    once per process: one instance per module), and the event loop it runs on."""

    loop: asyncio.AbstractEventLoop
    server: MLServer
    model: ModelSettings
    app: Any

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)


@pytest.fixture(scope="module")
def served(artifact: Path) -> Iterator[Served]:
    env = {
        "PREDICTOR_RATE_LIMIT": "",
        "PREDICTOR_MAX_BODY_BYTES": "4096",
        "PREDICTOR_EVENTS_SINK_URL": "",
        "K_SINK": "",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    loop = asyncio.new_event_loop()
    try:
        # built in a running loop: MLServer adds its signal handlers to it
        srv, model = loop.run_until_complete(_build(PredictorSettings(model_uri=str(artifact))))
        s = Served(loop, srv, model, srv._rest_server._app)
        s.run(srv._model_registry.load(model))
        yield s
        if LeadScoringRuntime.serving is not None:
            s.run(srv._model_registry.unload(model.name))
    finally:
        loop.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _build(settings: PredictorSettings) -> tuple[MLServer, ModelSettings]:
    return build(settings)


def clients(app: Any) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """A client of the app (the fast path once installed) and one of the REST stack alone."""

    async def stack(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = app  # what Starlette.__call__ sets before its middleware stack
        inner = app.middleware_stack
        await (inner.inner if isinstance(inner, fastpath.ScoreLeadApp) else inner)(scope, receive, send)

    def client(target: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=target, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://predictor")

    return client(app), client(stack)


async def fetch(
    client: httpx.AsyncClient, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Status, headers and decoded body of an answer, without what differs per call (the scoring time); the
    declared length is checked against the bytes on the wire."""
    r = await client.send(client.build_request(method, path, content=body, headers=headers), stream=True)
    wire = b"".join([chunk async for chunk in r.aiter_raw()])
    await r.aclose()
    head = dict(r.headers)
    assert int(head.pop("content-length")) == len(wire)  # gzip: the stream holds a time, compare the text
    text = gzip.decompress(wire) if head.get("content-encoding") == "gzip" else wire
    try:
        decoded: Any = json.loads(text)
    except ValueError:
        return r.status_code, head, text
    for item in decoded if isinstance(decoded, list) else [decoded]:
        if isinstance(item, dict):
            item.pop("scored_at", None)
    return r.status_code, head, decoded


LEAD = sample_lead(seed=3)
CASES: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    "one lead": ("POST", "/score-lead", {}, json.dumps(LEAD).encode()),
    "one lead, gzip accepted": ("POST", "/score-lead", {"accept-encoding": "gzip"}, json.dumps(LEAD).encode()),
    "three leads": ("POST", "/score-lead", {}, json.dumps([LEAD, sample_lead(seed=4), sample_lead(seed=5)]).encode()),
    "contract broken": ("POST", "/score-lead", {}, json.dumps({**LEAD, "Lead Source": "x"}).encode()),
    "small refusal": ("POST", "/score-lead", {}, b"[]"),
    "malformed": ("POST", "/score-lead", {}, b"{not json"),
    "not json": ("POST", "/score-lead", {"content-type": "text/csv"}, b"a,b"),
    "too large": ("POST", "/score-lead", {}, b" " * 5000),
    "wrong method": ("GET", "/score-lead", {}, b""),
    "another route": ("GET", "/v2/models/lead-scoring/ready", {}, b""),
    "the contract": ("GET", "/score-lead/openapi.json", {}, b""),
    "trailing slash": ("POST", "/score-lead/", {}, json.dumps(LEAD).encode()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_answer_is_the_rest_stacks(served: Served, case: str) -> None:
    method, path, extra, body = CASES[case]
    app = served.app

    async def run() -> tuple[list[tuple[int, dict[str, str], Any]], bool]:
        fast, stack = clients(app)
        headers = {"content-type": "application/json", "x-request-id": "req-1", "accept-encoding": "", **extra}
        async with fast, stack:
            # the first /score-lead call goes down the stack and installs the fast path
            first = await fetch(fast, "POST", "/score-lead", json.dumps(LEAD).encode())
            assert first[0] == 200
            installed = isinstance(app.middleware_stack, fastpath.ScoreLeadApp)
            answers = [await fetch(c, method, path, body, headers) for c in (fast, stack)]
        return answers, installed

    (fast, stacked), installed = served.run(run())
    assert installed
    assert fast == stacked


def test_an_unloaded_model_is_answered_by_the_stack_and_a_reload_by_the_new_model(served: Served) -> None:
    lead = json.dumps(LEAD).encode()

    async def run() -> list[int]:
        fast, _ = clients(served.app)
        registry = served.server._model_registry
        async with fast:
            statuses = [(await fast.post("/score-lead", content=lead)).status_code]
            assert isinstance(served.app.middleware_stack, fastpath.ScoreLeadApp)
            old = LeadScoringRuntime.serving
            await registry.unload(served.model.name)
            assert LeadScoringRuntime.serving is None
            statuses.append((await fast.post("/score-lead", content=lead)).status_code)
            await registry.load(served.model)
            assert LeadScoringRuntime.serving not in (None, old)
            statuses.append((await fast.post("/score-lead", content=lead)).status_code)
        return statuses

    assert served.run(run()) == [200, 404, 200]


def test_a_raising_handler_answers_as_starlette_does(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*_: object) -> Reply:
        raise RuntimeError("a bug")

    async def run() -> list[tuple[int, dict[str, str], Any]]:
        fast, stack = clients(served.app)
        async with fast, stack:
            await fast.post("/score-lead", content=json.dumps(LEAD).encode())
            runtime = LeadScoringRuntime.serving
            assert runtime is not None
            monkeypatch.setattr(runtime, "answer", boom)
            return [await fetch(c, "POST", "/score-lead", b"{}") for c in (fast, stack)]

    fast, stacked = served.run(run())
    assert fast == stacked
    assert fast[0] == 500


def test_a_client_gone_before_its_body_gets_nothing() -> None:
    sent: list[dict[str, Any]] = []
    called: list[str] = []

    async def answer(headers: Mapping[str, str], peer: str, stream: AsyncIterator[bytes]) -> Reply:
        called.append("answer")
        async for _chunk in stream:
            pass
        return Reply(200, b"{}")

    async def inner(*_: object) -> None:
        called.append("inner")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    app = fastpath.ScoreLeadApp(inner, lambda: answer)
    scope = {"type": "http", "method": "POST", "path": "/api/score-lead", "root_path": "/api", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert called == ["answer"]
    assert sent == []


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/score-lead", "", "/score-lead"),
        ("/api/score-lead", "/api", "/score-lead"),
        ("/score-lead", "/api", "/score-lead"),
    ],
)
def test_route_path_drops_the_root_path(path: str, root: str, expected: str) -> None:
    assert fastpath.route_path({"path": path, "root_path": root}) == expected


def test_the_first_of_repeated_headers_counts() -> None:
    raw = [(b"x-api-key", b"first"), (b"x-api-key", b"second"), (b"content-type", b"application/json")]
    assert fastpath.request_headers(raw) == {"x-api-key": "first", "content-type": "application/json"}
