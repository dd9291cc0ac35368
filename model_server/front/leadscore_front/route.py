"""The one ``POST /score-lead`` handler both servers mount (the kserve transformer and the MLServer predictor).

Framework-free: the server hands over the request's headers (lower-case names), the client address and
the body stream, plus how it scores (:data:`~leadscore_front.front.ScoreFn`: over the V2 hop in the
transformer, in process in the predictor), and turns the :class:`~leadscore_front.front.Reply` into its
own response object.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping

import orjson

from leadscore_front.errors import FieldIssue, RequestError
from leadscore_front.front import Reply, ScoreFn, ScoringFront, read_limited
from leadscore_front.metrics import FrontMetrics

NOT_LOADED = RequestError(503, "model not available", [FieldIssue("model", "not loaded")], {"retry-after": "1"})


def error_reply(exc: RequestError) -> Reply:
    """The reply of a refused request: its status, JSON error body and headers."""
    return Reply(exc.status, orjson.dumps(exc.body()), dict(exc.headers))


async def score_lead(
    front: ScoringFront | None,
    headers: Mapping[str, str],
    peer: str,
    stream: AsyncIterator[bytes],
    score: ScoreFn,
    *,
    metrics: FrontMetrics | None = None,
) -> Reply:
    """Answer one ``/score-lead`` request: 503 until a model is loaded, 413 for a body over the limit (read
    no further than the limit), else :meth:`ScoringFront.handle` (admit, validate, ``score``, respond).

    Every reply is counted in ``leadscore_requests_total``: :meth:`ScoringFront.handle` counts its own, the
    refusals made here are counted in ``front.metrics`` (or ``metrics`` while no front is loaded)."""
    start = time.perf_counter()
    if front is None:
        return _counted(error_reply(NOT_LOADED), metrics, start)
    try:
        front.check_length(headers.get("content-length"))
        body = await read_limited(stream, front.settings.max_body_bytes)
    except RequestError as exc:
        return _counted(error_reply(exc), front.metrics, start)
    if body is None:
        return _counted(error_reply(front.too_large()), front.metrics, start)
    return await front.handle(body, headers, peer, score)


def _counted(reply: Reply, metrics: FrontMetrics | None, start: float) -> Reply:
    if metrics is not None:
        metrics.request(reply.status, time.perf_counter() - start)
    return reply
