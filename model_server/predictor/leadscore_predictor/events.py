"""PII-free payload events emitted in process: what KServe's logger would send, without the logger.

For every ``/score-lead`` call the predictor serves, :class:`EventEmitter` sends the pair of binary-mode
CloudEvents 1.0 that KServe's payload logger sends for a predictor's V2 call (``ce-type``
``org.kubeflow.serving.inference.request`` / ``.response``, one shared ``ce-id``, the extensions
``inferenceservicename``, ``namespace``, ``component``, ``endpoint``), with the V2 bodies the hop design's
predictor receives and answers: ``features`` FP32 ``[n, n_columns]`` with ``parameters.lead_keys`` (salted
hashes), and ``probability``/``margin``/``tier``/``contributions``. No CRM field ever enters an event: the
bodies are built from the encoded matrix, the salted keys and the scores only, and ``ce-id`` / the V2 ``id``
are generated here (a client's ``X-Request-Id`` is not copied).

Path of an event: :meth:`EventEmitter.emit` appends the scored batch to a bounded in-memory queue (O(1), never
blocks the request, encodes nothing; a full queue drops and counts). It wakes **one** idle sender task, and
only when no sender is already on its way; that sender lingers ``linger_seconds`` so that the calls of the
next milliseconds join its batch, takes up to ``batch`` calls (waking another sender if more are queued),
encodes them (orjson, numpy data written directly) and writes their events pipelined in one write on its
keep-alive HTTP/1.1 connection (one event per POST, as Knative brokers accept), then waits, bounded by
``send_timeout_seconds``, for the answers, which arrive in order. The per-event CPU of the serving process is
thus the encoding and a share of one write and one wake-up per batch, not a task switch per call (the cost
per call is measured by ``bench/serving_cpu.py``). Every event ends in exactly one counter:
``leadscore_events_sent_total`` (2xx) or ``leadscore_events_dropped_total{reason}``.

Delivery guarantee: **best effort**, like KServe's logger agent. Events queued when the process dies
(SIGKILL, OOM) are lost; at shutdown the queue is drained for at most ``drain_seconds``. A connection lost
before its answers came is retried once on a fresh connection (the consumers deduplicate by ``ce-id``); an
event without an answer within the timeout, or answered 5xx, is counted ``send_error`` even though the
consumer may have recorded it. At-least-once would need a durable outbox (an fsynced log per pod,
replayed after a restart), which a stateless serving pod does not have.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from dataclasses import dataclass
from typing import ClassVar, cast
from urllib.parse import urlsplit

import httptools
import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore_core.wire import REQUEST_TYPE, RESPONSE_TYPE, ScoreOutputs, request_body, response_body

log = logging.getLogger("leadscore.predictor.events")
DROP_REASONS = ("queue_full", "send_error", "rejected", "shutdown")


class EventSettings(BaseSettings):
    """In-process payload events (env prefix ``PREDICTOR_EVENTS_``)."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_EVENTS_", extra="ignore", populate_by_name=True)

    sink_url: str = Field(default="", validation_alias=AliasChoices("PREDICTOR_EVENTS_SINK_URL", "K_SINK"))
    """Where events are POSTed: the Knative broker ingress (``PREDICTOR_EVENTS_SINK_URL``), else ``K_SINK``
    (a SinkBinding injects it). Empty: no events."""
    inferenceservicename: str = "lead-scoring"
    """``ce-inferenceservicename`` (the Triggers filter on it)."""
    namespace: str = Field(
        default="leadscore", validation_alias=AliasChoices("PREDICTOR_EVENTS_NAMESPACE", "POD_NAMESPACE")
    )
    """``ce-namespace``."""
    component: str = "predictor"
    """``ce-component``: the hop design's logger sat on the predictor."""
    endpoint: str = "default"
    """``ce-endpoint``: ``default`` or ``canary`` (the drift Trigger keeps only ``default``)."""
    source: str = ""
    """``ce-source``; empty: ``http://<inferenceservicename>-<component>.<namespace>/``."""
    queue_size: int = Field(default=20_000, ge=1)
    """Most ``/score-lead`` calls waiting to be sent; one more is dropped (``reason="queue_full"``)."""
    batch: int = Field(default=32, ge=1, le=4096)
    """Most calls a sender takes per wake (2 events each, written pipelined in one go)."""
    linger_seconds: float = Field(default=0.01, ge=0, le=1)
    """How long a woken sender waits for more calls before it takes its batch: fewer, larger writes (less
    CPU per event) for that much more delay of the events (never of the answers to the clients)."""
    connections: int = Field(default=8, ge=1, le=256)
    """Sender tasks, each with its own keep-alive connection. A connection answers its pipelined events one
    after the other, so it carries at most 1/(sink latency per event) events/s: size this for the sink
    (e.g. 3,700 events/s at 2 ms per event needs 8)."""
    send_timeout_seconds: float = Field(default=5.0, gt=0)
    """Bound on connecting plus all answers of one batch; past it the connection is closed and its
    unanswered events are counted ``send_error``."""
    retry_backoff_seconds: float = Field(default=0.5, gt=0)
    """Pause of a sender after a failed batch (events keep queueing, then drop as ``queue_full``)."""
    drain_seconds: float = Field(default=5.0, ge=0)
    """At shutdown, how long the senders keep sending what is queued; the rest is dropped (``shutdown``)."""


class EventMetrics:
    """``leadscore_events_*`` series (one instance per registry and revision)."""

    _shared: ClassVar[dict[tuple[int, str], EventMetrics]] = {}

    @classmethod
    def shared(cls, registry: CollectorRegistry, revision: str) -> EventMetrics:
        key = (id(registry), revision)
        if key not in cls._shared:
            cls._shared[key] = cls(registry, revision)
        return cls._shared[key]

    def __init__(self, registry: CollectorRegistry, revision: str) -> None:
        self.sent = Counter(
            "leadscore_events_sent", "Payload CloudEvents answered 2xx by the sink.", ["revision"], registry=registry
        ).labels(revision)
        dropped = Counter(
            "leadscore_events_dropped",
            "Payload CloudEvents not delivered, by reason (queue_full, send_error, rejected = 4xx, shutdown).",
            ["revision", "reason"],
            registry=registry,
        )
        self.dropped = {r: dropped.labels(revision, r) for r in DROP_REASONS}
        self.queued = Gauge(
            "leadscore_events_queued", "Score-lead calls whose events are queued or in flight (not yet counted).",
            ["revision"],
            registry=registry,
        ).labels(revision)  # fmt: skip


@dataclass(slots=True)
class _Call:
    """One scored ``/score-lead`` call waiting for its two events."""

    at: float
    x: np.ndarray
    lead_keys: list[str]
    out: ScoreOutputs
    wire: list[bytes] | None = None
    """Its encoded HTTP requests once a sender took it (kept, so a re-send keeps the ce-id)."""


class _Http1(asyncio.Protocol):
    """One keep-alive HTTP/1.1 client connection; answers of pipelined requests arrive in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.statuses: list[int] = []
        self._expected = 0
        self._done: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(ConnectionError(f"malformed HTTP answer: {exc}"))
            self.close()

    def on_message_complete(self) -> None:
        self.statuses.append(self._parser.get_status_code())
        if len(self.statuses) >= self._expected:
            self._finish(None)
        if not self._parser.should_keep_alive():  # "Connection: close": the rest goes on a new connection
            self._finish(ConnectionError("the sink closed the connection"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish(ConnectionError(f"connection lost: {exc or 'closed by the sink'}"))

    def _finish(self, exc: Exception | None) -> None:
        fut = self._done
        if fut is not None and not fut.done():
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

    def send(self, wire: list[bytes]) -> asyncio.Future[None]:
        """Write ``wire`` (whole HTTP requests); the future completes when all are answered."""
        assert self.transport is not None
        self.statuses = []
        self._expected = len(wire)
        self._done = self._loop.create_future()
        self.transport.write(b"".join(wire))
        return self._done

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class EventEmitter:
    """Bounded queue + batching senders of the request/response CloudEvent pairs (see the module doc)."""

    def __init__(self, settings: EventSettings, metrics: EventMetrics) -> None:
        self.s = settings
        self.m = metrics
        url = urlsplit(settings.sink_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"events sink_url {settings.sink_url!r}: expected http(s)://host[:port]/path")
        self._host, self._ssl = url.hostname, url.scheme == "https"
        self._port = url.port or (443 if self._ssl else 80)
        source = settings.source or f"http://{settings.inferenceservicename}-{settings.component}.{settings.namespace}/"
        host_header = url.netloc
        common = (
            f"Host: {host_header}\r\nContent-Type: application/json\r\nce-specversion: 1.0\r\n"
            f"ce-source: {source}\r\nce-inferenceservicename: {settings.inferenceservicename}\r\n"
            f"ce-namespace: {settings.namespace}\r\nce-component: {settings.component}\r\n"
            f"ce-endpoint: {settings.endpoint}\r\n"
        )
        line = f"POST {url.path or '/'}{'?' + url.query if url.query else ''} HTTP/1.1\r\n"
        self._heads = {t: f"{line}{common}ce-type: {t}\r\n".encode() for t in (REQUEST_TYPE, RESPONSE_TYPE)}
        self._queue: collections.deque[_Call] = collections.deque()
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        """Senders waiting for work, each on its own future (woken one at a time, no thundering herd)."""
        self._waking = False
        """A sender was woken and has not taken its batch yet: later calls join that batch."""
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight = 0

    # -- the request path -------------------------------------------------------------------------
    def emit(self, x: np.ndarray, lead_keys: list[str], out: ScoreOutputs) -> None:
        """Queue the events of one scored call (O(1); drops and counts when the queue is full)."""
        if len(self._queue) >= self.s.queue_size:
            self.m.dropped["queue_full"].inc(2)
            return
        self._queue.append(_Call(time.time(), x, lead_keys, out))
        if not self._tasks:
            self.start()
        if not self._waking:
            self._wake_one()

    def _wake_one(self) -> None:
        """Wake one idle sender, if any (a busy one takes the queue when its batch is answered)."""
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._waking = True
                return

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the senders on the running loop (idempotent; :meth:`emit` starts them if needed)."""
        if not self._tasks:
            self._tasks = [asyncio.get_running_loop().create_task(self._sender()) for _ in range(self.s.connections)]

    async def close(self) -> None:
        """Drain what is queued for at most ``drain_seconds``, then stop (the rest counts ``shutdown``)."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.s.drain_seconds + self.s.send_timeout_seconds + 1)
        self._drop_queued("shutdown")

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- senders ----------------------------------------------------------------------------------
    async def _sender(self) -> None:
        """Take up to ``batch`` calls per wake and deliver them; on cancellation drain with a bound.

        ``asyncio.run`` (MLServer's shutdown) cancels the task and then waits for it, so the drain runs.
        """
        conn: _Http1 | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._queue or self._waking:
                    waiter = loop.create_future()
                    self._idle.append(waiter)
                    await waiter
                    if self.s.linger_seconds and len(self._queue) < self.s.batch:
                        await asyncio.sleep(self.s.linger_seconds)
                self._waking = False
                if self._queue:
                    conn = await self._deliver(conn, self._take())
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            try:
                async with asyncio.timeout(self.s.drain_seconds):
                    while self._queue:
                        conn = await self._deliver(conn, self._take())
            except TimeoutError:
                log.warning("events: drain stopped after %.1fs, %d calls left", self.s.drain_seconds, len(self._queue))
            self._drop_queued("shutdown")
        finally:
            if conn is not None:
                conn.close()

    def _take(self) -> list[_Call]:
        q, n = self._queue, min(self.s.batch, len(self._queue))
        calls = [q.popleft() for _ in range(n)]
        self._inflight += n
        self.m.queued.set(len(q) + self._inflight)
        if q:  # more than one batch waiting: another sender takes the rest
            self._wake_one()
        return calls

    def _drop_queued(self, reason: str) -> None:
        if self._queue:
            self.m.dropped[reason].inc(sum(2 if c.wire is None else len(c.wire) for c in self._queue))
            self._queue.clear()

    async def _deliver(self, conn: _Http1 | None, calls: list[_Call]) -> _Http1 | None:
        """Send the events of ``calls`` within ``send_timeout_seconds``; returns the connection to reuse.

        A connection lost with answers missing (an idle keep-alive closed by the sink, ``Connection:
        close``) is replaced and the unanswered rest re-sent, as long as each connection answered
        something (two in a row answering nothing: ``send_error``).
        """
        try:
            return await self._send(conn, calls)
        finally:
            self._inflight -= len(calls)
            self.m.queued.set(len(self._queue) + self._inflight)

    async def _send(self, conn: _Http1 | None, calls: list[_Call]) -> _Http1 | None:
        for c in calls:
            if c.wire is None:
                c.wire = self._encode(c)
        wire = [w for c in calls for w in c.wire or ()]
        done = 0  # events answered (any status) so far
        current: _Http1 | None = None
        try:
            async with asyncio.timeout(self.s.send_timeout_seconds):
                stalls = 0
                while True:
                    if conn is None or conn.closed:
                        conn = await self._connect()
                    current = conn
                    fut = conn.send(wire[done:])
                    try:
                        await fut
                        done += self._settle(conn.statuses)
                        return conn
                    except ConnectionError:
                        n = self._settle(conn.statuses)
                        current, conn, done = None, None, done + n
                        stalls = 0 if n else stalls + 1
                        if stalls >= 2 or done >= len(wire):
                            raise
        except asyncio.CancelledError:
            if current is not None:
                done += self._settle(current.statuses)
                current.close()  # its pipeline state is unknown now: the drain reconnects
            self._requeue(calls, done)
            raise
        except OSError as exc:  # ConnectionError, TimeoutError, refused, unreachable
            if current is not None:
                done += self._settle(current.statuses)
                current.close()
            left = len(wire) - done
            if left > 0:
                self.m.dropped["send_error"].inc(left)
                log.warning("events: %d not delivered to %s: %r", left, self.s.sink_url, exc)
            await asyncio.sleep(self.s.retry_backoff_seconds)
            return None

    def _requeue(self, calls: list[_Call], answered: int) -> None:
        """Shutdown while waiting for answers: the unanswered events go back for the drain."""
        keep = []
        for c in calls:
            wire = c.wire or []
            if answered >= len(wire):
                answered -= len(wire)
                continue
            c.wire, answered = wire[answered:], 0
            keep.append(c)
        self._queue.extendleft(reversed(keep))

    def _settle(self, statuses: list[int]) -> int:
        ok = sum(1 for s in statuses if 200 <= s < 300)
        if ok:
            self.m.sent.inc(ok)
        if ok != len(statuses):
            rejected = sum(1 for s in statuses if 400 <= s < 500)
            if rejected:
                self.m.dropped["rejected"].inc(rejected)
            if len(statuses) - ok - rejected:
                self.m.dropped["send_error"].inc(len(statuses) - ok - rejected)
        return len(statuses)

    async def _connect(self) -> _Http1:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(
            lambda: _Http1(loop), self._host, self._port, ssl=True if self._ssl else None
        )
        return proto

    # -- encoding ---------------------------------------------------------------------------------
    def _encode(self, call: _Call) -> list[bytes]:
        """The two HTTP requests (binary-mode CloudEvents) of one call."""
        ce_id = os.urandom(16).hex()
        req, resp = v2_bodies(ce_id, call.x, call.lead_keys, call.out)
        tail = f"ce-id: {ce_id}\r\nce-time: {ce_time(call.at)}\r\nContent-Length: "
        return [
            b"".join((self._heads[REQUEST_TYPE], f"{tail}{len(req)}\r\n\r\n".encode(), req)),
            b"".join((self._heads[RESPONSE_TYPE], f"{tail}{len(resp)}\r\n\r\n".encode(), resp)),
        ]


def ce_time(at: float) -> str:
    """RFC 3339 UTC with microseconds, as KServe's agent stamps ``ce-time``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"


_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def v2_bodies(ce_id: str, x: np.ndarray, lead_keys: list[str], out: ScoreOutputs) -> tuple[bytes, bytes]:
    """The V2 request the hop's predictor received and the V2 response it answered, as JSON bytes
    (:mod:`leadscore_core.wire`, the one definition of the wire format; missing values travel as ``null``).
    orjson writes the numpy data itself (NaN as ``null``, float64 text as ``tolist()`` gives it)."""
    req = orjson.dumps(request_body(x, lead_keys, ce_id, arrays=True), option=_NUMPY)
    return req, orjson.dumps(response_body(out, ce_id, arrays=True), option=_NUMPY)


def build_emitter(revision: str, registry: CollectorRegistry) -> EventEmitter | None:
    """The emitter the settings ask for, or None when no sink is configured."""
    settings = EventSettings()
    if not settings.sink_url:
        return None
    emitter = EventEmitter(settings, EventMetrics.shared(registry, revision))
    log.info("payload events -> %s (queue %d, batch %d)", settings.sink_url, settings.queue_size, settings.batch)
    return emitter
