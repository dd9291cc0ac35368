"""The OpenAPI 3.1 document of the CRM front, generated from the contract's pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from leadscore_front.api import ErrorBody, ScoreResponse
from leadscore_front.front import ScoringFront

REF = "#/components/schemas/{model}"
SCORE_PATH = "/score-lead"
OPENAPI_PATH = "/score-lead/openapi.json"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
    }


def openapi_document(front: ScoringFront, title: str = "leadscore CRM scoring API") -> dict[str, Any]:
    """OpenAPI for ``POST /score-lead`` (and ``GET /metrics``) of this model's contract."""
    _, schemas = models_json_schema(
        [(front.lead_model, "validation"), (ScoreResponse, "serialization"), (ErrorBody, "serialization")],
        ref_template=REF,
    )
    lead = {"$ref": REF.format(model="Lead")}
    result = {"$ref": REF.format(model="ScoreResponse")}
    s = front.settings
    security: list[dict[str, list[str]]] = []
    schemes: dict[str, Any] = {}
    if s.auth_mode == "api_key":
        schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        security = [{"apiKey": []}]
    elif s.auth_mode == "jwt":
        schemes["bearer"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        security = [{"bearer": []}]
    op: dict[str, Any] = {
        "operationId": "scoreLead",
        "summary": "Score one lead or a list of leads",
        "description": (
            f"Validates each lead against feature spec `{front.spec.name}` v{front.spec.version} "
            f"(absent feature keys: send null for an unknown value; unknown fields, wrong types, NaN/inf, "
            f"out-of-range values and categories the spec rejects are 422 naming the field), "
            f"at most {s.max_leads} leads and {s.max_body_bytes} bytes per call. "
            "A single lead object gets one result object; a list gets a list in the same order. "
            "PII fields are accepted and never forwarded or logged."
        ),
        "parameters": [
            {
                "name": "X-Request-Id",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 128},
                "description": "Echoed as `request_id`; generated when absent.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [lead, {"type": "array", "items": lead, "minItems": 1, "maxItems": s.max_leads}]
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "Scores, one object per lead (a list for a list request).",
                "content": {"application/json": {"schema": {"oneOf": [result, {"type": "array", "items": result}]}}},
            },
            "400": _error("Malformed JSON."),
            "401": _error("Missing or invalid credentials."),
            "413": _error("Body larger than the limit."),
            "422": _error("The request breaks the feature contract, or too many leads."),
            "429": _error("Per-client rate limit exceeded; see Retry-After."),
            "503": _error("Model not loaded or predictor unreachable."),
        },
    }
    if security:
        op["security"] = security
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": {
            "/score-lead": {"post": op},
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {}}}},
                }
            },
        },
        "components": {"schemas": schemas["$defs"], **({"securitySchemes": schemes} if schemes else {})},
    }
