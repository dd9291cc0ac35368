"""``POST /score-lead`` answered in front of MLServer's REST app (raw ASGI), with the same replies.

MLServer serves a custom handler through its whole FastAPI stack: Starlette's error and exception middlewares,
``starlette_exporter``'s per-request metrics (which matches every route a second time to find the path
template), GZip, the router, FastAPI's dependency solving and MLServer's request class. For ``/score-lead``
that was about a third of the process's CPU per call, more than the model. :class:`ScoreLeadApp` wraps the
app's middleware stack and answers ``POST /score-lead`` itself; every other request goes down the stack
unchanged.

What the stack did for ``/score-lead`` is kept: the reply headers Starlette's ``Response`` writes
(``content-length``, ``content-type``), GZip's (``vary: Accept-Encoding`` on a body of 500 bytes or more,
compressed at level 9 when the client accepts gzip), and a plain ``500 Internal Server Error`` should the
handler ever raise. What is not kept: MLServer's ``rest_server_*`` series no longer count ``/score-lead``;
``leadscore_requests_total`` and ``leadscore_request_duration_seconds`` do (every reply, by status).

It is installed by the runtime's ``/score-lead`` custom handler on its first call (the request carries the
app; MLServer offers no hook to the app at load time, and ``mlserver start`` in the ServingRuntime must get
it too), and it asks on every call which runtime serves (:data:`Target`): none (the model was unloaded) sends
the request down the stack, to the 404 it gives then.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from leadscore_front.front import Reply

log = logging.getLogger("leadscore.predictor.fastpath")
PATH = "/score-lead"
GZIP_MINIMUM = 500
"""Starlette's ``GZipMiddleware`` default ``minimum_size``, as MLServer adds it."""
GZIP_LEVEL = 9
"""Starlette's ``GZipMiddleware`` default ``compresslevel``."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Answer = Callable[[Mapping[str, str], str, AsyncIterator[bytes]], Awaitable[Reply]]
"""Answers one call from its headers (lower-case names), the client address and the body stream."""
Target = Callable[[], Answer | None]
"""The answer of the runtime serving now, or None (no model loaded: the stack answers)."""


class Disconnected(Exception):
    """The client went away before its body was read."""


def route_path(scope: Scope) -> str:
    """The path the router matches (the scope's ``root_path`` removed), as Starlette computes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def request_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header name -> value; the first of repeated headers, as Starlette's ``Headers.get`` returns."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


async def body_stream(receive: Receive) -> AsyncIterator[bytes]:
    """The request body chunks (Starlette's ``Request.stream``); raises :class:`Disconnected`."""
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise Disconnected


def response_messages(reply: Reply, accept_encoding: str) -> tuple[Message, Message]:
    """The ASGI start and body messages of ``reply``, with the headers Starlette and its GZip would set."""
    body = reply.body
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    extra: list[tuple[bytes, bytes]] = []
    if len(body) >= GZIP_MINIMUM:
        extra.append((b"vary", b"Accept-Encoding"))
        if "gzip" in accept_encoding:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            extra.append((b"content-encoding", b"gzip"))
    headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"), *extra]
    return (
        {"type": "http.response.start", "status": reply.status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


INTERNAL_ERROR: tuple[Message, Message] = (
    {
        "type": "http.response.start",
        "status": 500,
        "headers": [(b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")],
    },
    {"type": "http.response.body", "body": b"Internal Server Error"},
)
"""What Starlette's ``ServerErrorMiddleware`` answers (debug off) when a handler raises."""


class ScoreLeadApp:
    """ASGI app: ``POST /score-lead`` answered by :data:`Target`'s answer, anything else by ``inner``."""

    def __init__(self, inner: ASGIApp, target: Target) -> None:
        self.inner = inner
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.target() if scope["type"] == "http" and scope["method"] == "POST" else None
        if answer is None or route_path(scope) != PATH:
            await self.inner(scope, receive, send)
            return
        headers = request_headers(scope["headers"])
        client = scope.get("client")
        started = False
        try:
            reply = await answer(headers, client[0] if client else "", body_stream(receive))
            start, body = response_messages(reply, headers.get("accept-encoding", ""))
            started = True
            await send(start)
            await send(body)
        except Disconnected:
            return
        except Exception:
            if not started:
                await send(INTERNAL_ERROR[0])
                await send(INTERNAL_ERROR[1])
            raise


def install(app: object, target: Target) -> bool:
    """Put :class:`ScoreLeadApp` in front of a built Starlette middleware stack, once; False when there is
    no stack to wrap (not a Starlette app, or one that has served nothing yet) or it is already there."""
    stack = getattr(app, "middleware_stack", None)
    if stack is None or isinstance(stack, ScoreLeadApp):
        return False
    app.middleware_stack = ScoreLeadApp(stack, target)  # type: ignore[attr-defined]
    log.info("POST %s is answered in front of the REST middlewares from now on", PATH)
    return True
