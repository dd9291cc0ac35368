"""The CRM routes added to kserve's FastAPI app: ``POST /score-lead`` and its OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from leadscore_front.front import JSON, ParsedLeads, Reply
from leadscore_front.openapi import OPENAPI_PATH, SCORE_PATH, openapi_document
from leadscore_front.route import score_lead as handle_score_lead
from leadscore_transformer.transformer import LeadTransformer


def _response(reply: Reply) -> Response:
    return Response(content=reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers)


def add_crm_routes(app: FastAPI, model: LeadTransformer) -> None:
    """Mount ``/score-lead`` (:func:`leadscore_front.route.score_lead` over the V2 hop) and
    ``/score-lead/openapi.json`` (kserve already serves ``/metrics``)."""
    front = model.front
    if front is None:
        raise RuntimeError("load the transformer before adding its routes")
    openapi = orjson.dumps(openapi_document(front))

    async def score_lead(request: Request) -> Response:
        headers = dict(request.headers)
        peer = request.client.host if request.client else ""

        async def run(parsed: ParsedLeads) -> list[dict[str, Any]]:
            return await model.score(parsed, {**headers, "x-request-id": parsed.request_id})

        return _response(await handle_score_lead(front, headers, peer, request.stream(), run))

    async def score_lead_openapi() -> Response:
        return Response(content=openapi, media_type=JSON)

    async def server_ready() -> Response:
        """kserve's ``/v2/health/ready`` says ready without a predictor check; this one tells the truth."""
        if model.ready:
            return Response(orjson.dumps({"ready": True}), 200, media_type=JSON)
        return Response(orjson.dumps({"ready": False}), 503, media_type=JSON)

    app.add_api_route(SCORE_PATH, score_lead, methods=["POST"], include_in_schema=False)
    app.add_api_route(OPENAPI_PATH, score_lead_openapi, methods=["GET"], include_in_schema=False)
    # registered before kserve's own routes (RESTServer adds them later), so this one answers
    app.add_api_route("/v2/health/ready", server_ready, methods=["GET"], include_in_schema=False)
    app.router.lifespan_context = _with_watcher(app.router.lifespan_context, model)


def _with_watcher(inner: Any, model: LeadTransformer) -> Any:
    """The app's lifespan plus the background predictor probe (started with the server, cancelled at stop)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        task = asyncio.create_task(model.watch_predictor())
        try:
            async with inner(app) as state:
                yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
