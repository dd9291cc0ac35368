"""The CRM routes added to kserve's FastAPI app: ``POST /score-lead`` and its OpenAPI document."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from leadscore_transformer.errors import RequestError
from leadscore_transformer.front import JSON, Reply
from leadscore_transformer.openapi import OPENAPI_PATH, SCORE_PATH, openapi_document
from leadscore_transformer.transformer import LeadTransformer


def _response(reply: Reply) -> Response:
    return Response(content=reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def add_crm_routes(app: FastAPI, model: LeadTransformer) -> None:
    """Mount ``/score-lead`` and ``/score-lead/openapi.json`` (kserve already serves ``/metrics``)."""
    import orjson

    front = model.front
    if front is None:
        raise RuntimeError("load the transformer before adding its routes")
    openapi = orjson.dumps(openapi_document(front))

    async def score_lead(request: Request) -> Response:
        try:
            front.check_length(request.headers.get("content-length"))
            body = await _read_limited(request, front.settings.max_body_bytes)
        except RequestError as exc:
            return Response(orjson.dumps(exc.body()), exc.status, exc.headers, JSON)
        if body is None:
            return Response(orjson.dumps(front.too_large().body()), 413, None, JSON)
        headers = dict(request.headers)
        peer = request.client.host if request.client else ""

        async def run(parsed):  # type: ignore[no-untyped-def]
            return await model.score(parsed, {**headers, "x-request-id": parsed.request_id})

        return _response(await front.handle(body, headers, peer, run))

    async def score_lead_openapi() -> Response:
        return Response(content=openapi, media_type=JSON)

    app.add_api_route(SCORE_PATH, score_lead, methods=["POST"], include_in_schema=False)
    app.add_api_route(OPENAPI_PATH, score_lead_openapi, methods=["GET"], include_in_schema=False)
