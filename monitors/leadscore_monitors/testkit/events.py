"""Logger CloudEvents as the payload logger posts them, and V2 request/response pairs scored for real."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from leadscore_monitors.cloudevent import logger_event


def post_event(
    client: httpx.Client, url: str, ce_type: str, ce_id: str, body: Any, endpoint: str = "default"
) -> httpx.Response:
    """POST one binary-mode logger CloudEvent (``body``: JSON-able or raw bytes) to a consumer."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers, data = logger_event(
        ce_type,
        ce_id,
        raw,
        source="http://localhost:9081/",
        inferenceservicename="lead-scoring",
        namespace="leadscore",
        endpoint=endpoint,
    )
    return client.post(url, headers=headers, content=data)


def scored_pairs(artifact: Path, records: list[dict[str, Any]], batch: int = 1) -> list[tuple[str, dict, dict]]:
    """(ce_id, V2 request, V2 response) per batch of records, scored for real by the artifact."""
    from leadscore_core.artifact import LeadScorer

    from leadscore_monitors.v2 import v2_request, v2_response

    scorer = LeadScorer(artifact).load()
    if scorer.encoder is None:
        raise ValueError(f"{artifact}: the artifact has no feature encoder")
    out = []
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        keys = [f"key-{uuid.uuid4().hex[:12]}" for _ in chunk]
        req = v2_request(scorer.encoder, chunk, keys)
        out.append((str(uuid.uuid4()), req, v2_response(scorer, req)))
    return out
