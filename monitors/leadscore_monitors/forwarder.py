"""Local stand-in for KServe's payload logger and the Knative broker (never deployed to a cluster).

KServe's logger is a Go agent sidecar that exists only in the cluster. Locally, :class:`LocalBroker`
delivers the identical binary CloudEvents (request + response sharing one ``ce-id``) to subscriber
URLs filtered by type, with retries and a dead-letter file like a Trigger's ``delivery`` spec, and
:func:`build_proxy` is the agent: a reverse proxy in front of a serving URL that logs what passes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from leadscore_core.contract import FeatureSpec
from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE, lead_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadscore_monitors.cloudevent import logger_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscription:
    """A Trigger: deliver events whose type is in ``types`` to ``url``."""

    url: str
    types: frozenset[str] = frozenset({REQUEST_TYPE, RESPONSE_TYPE})


class LocalBroker:
    """Fans CloudEvents out to subscribers; retries with exponential backoff, then dead-letters.

    Args:
        subscriptions: the triggers.
        retries: redeliveries after the first attempt (Knative ``delivery.retry``).
        backoff: first backoff delay in seconds, doubled each retry (``backoffPolicy: exponential``).
        dead_letter: JSON-lines file receiving events that exhausted their retries.
    """

    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        retries: int = 3,
        backoff: float = 0.05,
        dead_letter: Path | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.subscriptions = list(subscriptions)
        self.retries = retries
        self.backoff = backoff
        self.dead_letter = dead_letter
        self.client = client or httpx.AsyncClient(timeout=10.0)
        self.delivered = 0
        self.dead_lettered = 0

    async def publish(self, headers: Mapping[str, str], body: bytes) -> None:
        ce_type = {k.lower(): v for k, v in headers.items()}.get("ce-type", "")
        await asyncio.gather(*(self._deliver(s.url, headers, body) for s in self.subscriptions if ce_type in s.types))

    async def _deliver(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        delay = self.backoff
        status: Any = None
        for attempt in range(self.retries + 1):
            try:
                resp = await self.client.post(url, headers=dict(headers), content=body)
                status = resp.status_code
                if status < 300:
                    self.delivered += 1
                    return
                if 400 <= status < 500 and status not in (404, 408, 409, 429):
                    break  # Knative does not retry a client error the subscriber reported
            except httpx.HTTPError as exc:
                status = repr(exc)
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.dead_lettered += 1
        if self.dead_letter is not None:
            self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter.open("a") as fh:
                fh.write(
                    json.dumps(
                        {
                            "url": url,
                            "status": status,
                            "headers": dict(headers),
                            "body": body.decode("utf-8", "replace"),
                        }
                    )
                    + "\n"
                )

    async def aclose(self) -> None:
        await self.client.aclose()


class PayloadLogger:
    """Emits the request/response event pair of one inference call, as KServe's agent does."""

    def __init__(
        self,
        broker: LocalBroker,
        inferenceservicename: str = "lead-scoring",
        namespace: str = "leadscore",
        component: str = "predictor",
        endpoint: str = "default",
        source: str = "http://localhost:9081/",
    ) -> None:
        self.broker = broker
        self.meta = dict(
            inferenceservicename=inferenceservicename,
            namespace=namespace,
            component=component,
            endpoint=endpoint,
            source=source,
        )

    async def log_pair(self, ce_id: str, request_body: bytes, response_body: bytes) -> None:
        for ce_type, body in ((REQUEST_TYPE, request_body), (RESPONSE_TYPE, response_body)):
            headers, data = logger_event(ce_type, ce_id, body, **self.meta)  # type: ignore[arg-type]
            await self.broker.publish(headers, data)


def redact(spec: FeatureSpec, body: bytes, salt: str) -> bytes:
    """Drop the contract's PII fields from a CRM body and replace ``lead_id`` by its salted key.

    The cluster logger sits on the predictor, whose V2 bodies carry no PII; locally the proxy may sit
    in front of ``/score-lead``, so it redacts before anything leaves the process.
    """
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return body
    pii = set(spec.pii_fields)

    def clean(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = {k: v for k, v in item.items() if k not in pii and k != spec.id_column}
        if item.get(spec.id_column) is not None:
            out["lead_key"] = lead_key(str(item[spec.id_column]), salt)
        return out

    if isinstance(data, list):
        data = [clean(i) for i in data]
    elif isinstance(data, dict) and isinstance(data.get("leads"), list):
        data = {**data, "leads": [clean(i) for i in data["leads"]]}
    elif isinstance(data, dict):
        data = clean(data)
    return json.dumps(data).encode()


def build_proxy(
    upstream: str,
    logger: PayloadLogger,
    spec: FeatureSpec | None = None,
    salt: str = "",
    wait_for_delivery: bool = False,
) -> Starlette:
    """A reverse proxy to ``upstream`` that logs every POST as a request/response CloudEvent pair.

    Args:
        upstream: serving base URL (e.g. ``http://127.0.0.1:8080``).
        logger: where the events go.
        spec: when given, request/response bodies are PII-redacted with it before logging.
        salt: lead-key salt used by the redaction.
        wait_for_delivery: deliver before answering (tests); the real agent logs asynchronously.
    """
    client = httpx.AsyncClient(base_url=upstream, timeout=30.0)
    pending: set[asyncio.Task[None]] = set()

    async def proxy(request: Request) -> Response:
        body = await request.body()
        fwd_headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        resp = await client.request(
            request.method, request.url.path, params=request.query_params, headers=fwd_headers, content=body
        )
        if request.method == "POST" and resp.status_code < 300:
            ce_id = request.headers.get("ce-id") or request.headers.get("x-request-id") or str(uuid.uuid4())
            req_body = redact(spec, body, salt) if spec is not None else body
            resp_body = redact(spec, resp.content, salt) if spec is not None else resp.content
            task = asyncio.create_task(logger.log_pair(ce_id, req_body, resp_body))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if wait_for_delivery:
                await task
        drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in drop}
        return Response(resp.content, status_code=resp.status_code, headers=headers)

    return Starlette(routes=[Route("/{path:path}", proxy, methods=["GET", "POST"])])


def subscriptions_from(urls: Iterable[str]) -> list[Subscription]:
    """``url`` or ``url|type1,type2`` strings -> subscriptions."""
    out = []
    for raw in urls:
        url, _, types = raw.partition("|")
        out.append(Subscription(url, frozenset(t for t in types.split(",") if t) or Subscription.types))
    return out
