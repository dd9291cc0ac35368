"""The KServe payload-logger CloudEvent: parsing what the broker delivers, building what the logger sends.

KServe's agent sends binary-mode CloudEvents 1.0 over HTTP: ``ce-id`` (shared by a request and its
response: the join key), ``ce-type`` (``org.kubeflow.serving.inference.request`` / ``.response``),
``ce-source`` (the agent URL), the extensions ``inferenceservicename``, ``namespace``, ``component``,
``endpoint`` (default/canary), optional ``metadata`` (JSON of copied request headers), and the
V2 (or V1) JSON body. Parsing uses the ``cloudevents`` SDK; every failure is a :class:`BadEvent`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents import exceptions as ce_errors
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http


class BadEvent(Exception):
    """An event the consumer refuses: answered with ``status`` and ``reason``, counted, never retried."""

    def __init__(self, status: int, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.kind = kind
        """Short label for the rejection metric (malformed, unknown_type, missing_id, contract, ...)."""


@dataclass(frozen=True)
class LoggedEvent:
    """One delivered logger event, with its body parsed as JSON."""

    id: str
    type: str
    source: str
    body: Any
    time: datetime
    inferenceservicename: str | None = None
    namespace: str | None = None
    component: str | None = None
    endpoint: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_event(headers: Mapping[str, str], body: bytes, accepted_types: Iterable[str] | None) -> LoggedEvent:
    """Parse one HTTP delivery into a :class:`LoggedEvent`.

    Args:
        headers: request headers (binary mode: ``ce-*``; structured mode is accepted too).
        body: raw request body.
        accepted_types: the ``ce-type`` values this consumer handles (None: any).

    Raises:
        BadEvent: malformed CloudEvent (400), missing ce-id (400), unknown type (422) or a body that is
            not JSON (400).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if "ce-specversion" in lowered and not lowered.get("ce-id", "").strip():
        raise BadEvent(400, "missing ce-id (the request/response join key)", "missing_id")
    try:
        if "ce-specversion" in lowered:
            # binary mode (what KServe's agent sends): the SDK's CloudEvent validates the attributes;
            # reading the headers here is ~5x cheaper than from_http's generic marshaller
            attrs_in = {k[3:]: v for k, v in lowered.items() if k.startswith("ce-")}
            if "content-type" in lowered:
                attrs_in.setdefault("datacontenttype", lowered["content-type"])
            event = CloudEvent(attrs_in, body)
        else:
            event = from_http(dict(lowered), body, data_unmarshaller=lambda b: b)
    except ce_errors.GenericException as exc:
        raise BadEvent(400, f"not a CloudEvent: {str(exc)[:200]}", "malformed") from exc
    except (ValueError, TypeError, KeyError) as exc:  # the SDK lets some decoding errors through
        raise BadEvent(400, f"not a CloudEvent: {str(exc)[:200]}", "malformed") from exc
    attrs = event.get_attributes()
    ce_id = str(attrs.get("id") or "").strip()
    if not ce_id:
        raise BadEvent(400, "missing ce-id (the request/response join key)", "missing_id")
    ce_type = str(attrs.get("type") or "")
    accepted = set(accepted_types) if accepted_types is not None else {ce_type}
    if ce_type not in accepted:
        raise BadEvent(
            422, f"unknown event type {ce_type[:100]!r} (accepted: {', '.join(sorted(accepted))})", "unknown_type"
        )
    data = event.get_data()
    if isinstance(data, bytes | bytearray | str):
        try:
            parsed = json.loads(data) if data else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadEvent(400, f"body is not JSON: {exc}", "malformed") from exc
    else:
        parsed = data
    if parsed is None:
        raise BadEvent(400, "empty body", "malformed")
    meta: dict[str, Any] = {}
    raw_meta = attrs.get("metadata")
    if raw_meta:
        try:
            loaded = json.loads(raw_meta)
            meta = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            meta = {}
    return LoggedEvent(
        id=ce_id,
        type=ce_type,
        source=str(attrs.get("source") or ""),
        body=parsed,
        time=_time(attrs.get("time")),
        inferenceservicename=attrs.get("inferenceservicename"),
        namespace=attrs.get("namespace"),
        component=attrs.get("component"),
        endpoint=str(attrs.get("endpoint") or "default"),
        metadata=meta,
    )


def _time(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC)
    if isinstance(raw, str) and raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def logger_event(
    ce_type: str,
    ce_id: str,
    body: bytes,
    *,
    source: str,
    inferenceservicename: str,
    namespace: str,
    component: str = "predictor",
    endpoint: str = "default",
    metadata: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent exactly as KServe's logger agent sends it."""
    attrs: dict[str, Any] = {
        "specversion": "1.0",
        "id": ce_id,
        "type": ce_type,
        "source": source,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "inferenceservicename": inferenceservicename,
        "namespace": namespace,
        "component": component,
        "endpoint": endpoint,
        "datacontenttype": "application/json",
    }
    if metadata:
        attrs["metadata"] = json.dumps(dict(metadata), separators=(",", ":"))
    headers, data = to_binary(CloudEvent(attrs, body), data_marshaller=lambda b: b)
    return {k: str(v) for k, v in headers.items()}, bytes(data)


def reply_event(ce_type: str, ce_id: str, source: str, payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent emitted by a monitor (drift, retrain) with a JSON body."""
    attrs = {
        "specversion": "1.0",
        "id": ce_id,
        "type": ce_type,
        "source": source,
        "datacontenttype": "application/json",
    }
    headers, data = to_binary(CloudEvent(attrs, dict(payload)), data_marshaller=lambda d: json.dumps(d).encode())
    return {k: str(v) for k, v in headers.items()}, bytes(data)
