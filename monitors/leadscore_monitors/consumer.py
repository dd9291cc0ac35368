"""The CloudEvent consumer base and its ASGI app (``POST /`` events, ``/metrics``, ``/stats``, ``/healthz``).

A consumer decodes an event off the writer thread (pure, may raise :class:`BadEvent`), then records it
inside the group-committed transaction. The HTTP answer is 2xx only once that transaction is durable;
bad events get a 4xx with the reason and are counted; an internal failure is a 5xx so Knative redelivers.

Health tells the truth about writes: after ``unhealthy_after`` failed writes in a row (group commits, or
maintenance such as closing a window), ``/healthz`` answers 503 and ``leadscore_ready{component}`` is 0,
until a write succeeds again. Every failed write counts in ``leadscore_monitor_write_errors_total{consumer}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leadscore_monitors.cloudevent import BadEvent, LoggedEvent, parse_event
from leadscore_monitors.store import EventStore, Item

log = logging.getLogger(__name__)


class Consumer(ABC):
    """One Knative Trigger subscriber."""

    component: ClassVar[str] = "consumer"
    accepted_types: ClassVar[frozenset[str]] = frozenset()
    any_type: ClassVar[bool] = False
    """Accept every ``ce-type`` (the dead-letter sink)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.store: EventStore | None = None
        """Bound by the app at startup; :meth:`background` uses ``store.run`` for database work."""
        self.m_events = Counter(
            "leadscore_monitor_events",
            "CloudEvents delivered to a monitor, by outcome (recorded, duplicate, rejected, error).",
            ["component", "outcome"],
            registry=self.registry,
        )
        self.m_rejected = Counter(
            "leadscore_monitor_events_rejected",
            "CloudEvents refused with a 4xx, by reason kind.",
            ["component", "kind"],
            registry=self.registry,
        )
        self.m_write_errors = Counter(
            "leadscore_monitor_write_errors",
            "Durable writes (group commits, window closes, flushes) that failed; nothing from them was counted.",
            ["consumer"],
            registry=self.registry,
        )
        self.m_ready = Gauge(
            "leadscore_ready",
            "1 while this server can do its job (consumer: its writes succeed).",
            ["component"],
            registry=self.registry,
        )
        self.m_write_errors.labels(self.component)  # the series exist at 0 from the start
        self.m_ready.labels(self.component).set(0)
        self._failing: dict[str, int] = {}
        self.unhealthy_after = 3

    # -- health -----------------------------------------------------------------------------
    def write_outcome(self, kind: str, ok: bool) -> None:
        """Record one write's outcome (writer thread); ``kind`` is ``commit`` or ``maintain``."""
        if ok:
            self._failing[kind] = 0
        else:
            self._failing[kind] = self._failing.get(kind, 0) + 1
            self.m_write_errors.labels(self.component).inc()
        self.m_ready.labels(self.component).set(1.0 if self.healthy else 0.0)

    @property
    def healthy(self) -> bool:
        """False after ``unhealthy_after`` consecutive failed writes of one kind."""
        return all(n < self.unhealthy_after for n in self._failing.values())

    def settle(self, durable: bool) -> None:
        """After a group commit: keep (``True``) or drop (``False``) in-memory state staged by :meth:`apply`."""
        return None

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the consumer's tables (idempotent) and reload persisted state."""
        return None

    @abstractmethod
    def decode(self, event: LoggedEvent) -> Any:
        """Validate and decode an event body (no state touched). Raises :class:`BadEvent`."""

    @abstractmethod
    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        """Record a first-seen event inside the open transaction."""

    def maintain(self, conn: sqlite3.Connection, now: float) -> None:
        """Close windows / flush batches; runs on the writer thread after commits and on ticks."""
        return None

    def flush(self, conn: sqlite3.Connection) -> None:
        """Force what :meth:`maintain` would do later (close a partial window, write staged rows)."""
        self.maintain(conn, float("inf"))

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """Component-specific state for ``GET /stats``."""
        return {}

    async def background(self) -> None:
        """Long-running side work (e.g. delivering outbox events); cancelled at shutdown."""
        await asyncio.Event().wait()


JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")


async def read_body(request: Request, max_body: int) -> bytes:
    """The body, refused (413) from its ``Content-Length`` or as soon as the stream passes ``max_body``;
    a declared non-JSON content type is refused (415) before reading."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype and not (ctype in JSON_TYPES or ctype.endswith("+json")):
        raise BadEvent(415, f"content-type {ctype!r} is not JSON", "content_type")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise BadEvent(413, f"body of {declared} bytes exceeds {max_body}", "too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise BadEvent(413, f"body exceeds {max_body} bytes", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    consumer: Consumer,
    state_dir: Path,
    synchronous: str = "FULL",
    max_body: int = 4 << 20,
    tick_seconds: float = 1.0,
    unhealthy_after: int = 3,
) -> Starlette:
    """Assemble the consumer's HTTP server (nothing runs until the ASGI server starts it)."""
    holder: dict[str, EventStore] = {}
    consumer.unhealthy_after = unhealthy_after

    def _apply(conn: sqlite3.Connection, item: Item) -> None:
        event, decoded = item.payload
        consumer.apply(conn, event, decoded)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = EventStore(
            state_dir / f"{consumer.component}.sqlite",
            apply=_apply,
            setup=consumer.setup,
            maintain=consumer.maintain,
            synchronous=synchronous,
            settle=consumer.settle,
            on_write=consumer.write_outcome,
        )
        holder["store"] = store
        consumer.store = store
        consumer.m_ready.labels(consumer.component).set(1)

        async def ticker() -> None:
            while True:
                await asyncio.sleep(tick_seconds)
                try:
                    await store.tick()
                except Exception:
                    log.exception("tick failed")

        tasks = [asyncio.create_task(ticker()), asyncio.create_task(consumer.background())]
        try:
            yield
        finally:
            consumer.m_ready.labels(consumer.component).set(0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            store.close()

    async def receive(request: Request) -> Response:
        store = holder["store"]
        try:
            body = await read_body(request, max_body)
            event = parse_event(request.headers, body, None if consumer.any_type else consumer.accepted_types)
            decoded = consumer.decode(event)
        except BadEvent as exc:
            consumer.m_rejected.labels(consumer.component, exc.kind).inc()
            consumer.m_events.labels(consumer.component, "rejected").inc()
            await store.submit(Item(None, None, None, reject_kind=exc.kind))
            return JSONResponse({"status": "rejected", "kind": exc.kind, "reason": exc.reason}, exc.status)
        except Exception as exc:  # a decoder bug must not crash the server: refuse, count, log
            log.exception("decoding event failed")
            consumer.m_rejected.labels(consumer.component, "undecodable").inc()
            consumer.m_events.labels(consumer.component, "rejected").inc()
            await store.submit(Item(None, None, None, reject_kind="undecodable"))
            return JSONResponse({"status": "rejected", "kind": "undecodable", "reason": str(exc)[:300]}, 422)
        outcome = await store.submit(Item(event.id, event.type, (event, decoded)))
        consumer.m_events.labels(consumer.component, outcome).inc()
        if outcome == "error":
            return JSONResponse({"status": "error", "id": event.id}, 500)
        return JSONResponse({"status": outcome, "id": event.id}, 200 if outcome == "recorded" else 202)

    async def stats(request: Request) -> Response:
        store = holder["store"]

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            return {
                "component": consumer.component,
                "counters": store.counters(),
                "rejections": store.rejections(),
                **consumer.stats(conn),
            }

        return JSONResponse(await store.run(read))

    async def flush(request: Request) -> Response:
        await holder["store"].run(consumer.flush)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(consumer.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        if not consumer.healthy:
            failing = {k: n for k, n in consumer._failing.items() if n}
            body = {"status": "failing", "component": consumer.component, "consecutive_write_failures": failing}
            return JSONResponse(body, 503)
        return JSONResponse({"status": "ok", "component": consumer.component})

    return Starlette(
        routes=[
            Route("/", receive, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/flush", flush, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
