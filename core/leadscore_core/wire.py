"""The serving wire format, in one place: V2 inference bodies and the KServe logger CloudEvents.

**V2 (Open Inference Protocol).** The request holds one FP32 tensor :data:`V2_INPUT` of shape
``[n, n_columns]`` (the :class:`~leadscore_core.encoding.FeatureEncoder` columns; missing values travel as
JSON ``null``) and the parameters :data:`EXPLAIN` and :data:`LEAD_KEYS` (salted lead keys, no PII). The
response holds :data:`V2_OUTPUTS`: ``probability`` FP64 [n], ``margin`` FP64 [n], ``tier`` BYTES [n] and,
when explained, ``contributions`` FP64 [n, n_features + 1] (per business feature, then the base value),
plus the parameter :data:`MODEL_VERSION`. :func:`model_metadata` is what ``GET /v2/models/<name>``
declares, so a stock V2 client can discover the tensor it must send.

- encode: :func:`request_body`, :func:`response_tensors`, :func:`response_body`, :func:`model_metadata`
- decode: :func:`find_tensor`, :func:`features_from_tensor`, :func:`outputs_from_response`
- both sides share :class:`ScoreOutputs`; every decoding failure is a :class:`WireError`.

**Logger CloudEvents.** KServe's payload logger sends binary-mode CloudEvents 1.0 over HTTP: ``ce-id``
(shared by a request and its response: the join key), ``ce-type`` (:data:`REQUEST_TYPE` /
:data:`RESPONSE_TYPE`), ``ce-source`` (the agent URL), the extensions :data:`LOGGER_EXTENSIONS`
(``endpoint`` is default/canary), optional ``metadata`` (JSON of copied request headers) and the V2 (or V1)
JSON body. :func:`logger_event` / :func:`reply_event` encode, :func:`parse_event` decodes (binary or
structured mode) into a :class:`LoggedEvent`; a refused event is a :class:`BadEvent`. Plain Python: no
CloudEvents SDK, so every image can use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

# -- V2 names ---------------------------------------------------------------------------------------
V2_INPUT = "features"
"""The one input tensor: FP32 ``[n, n_columns]``."""
PROBABILITY, MARGIN, TIER, CONTRIBUTIONS = "probability", "margin", "tier", "contributions"
V2_OUTPUTS = (PROBABILITY, MARGIN, TIER, CONTRIBUTIONS)
"""The output tensors, in the order the predictor answers them."""
EXPLAIN = "explain"
"""Request parameter: also answer ``contributions``."""
LEAD_KEYS = "lead_keys"
"""Request parameter: salted lead keys, one per row (the join key of the outcome job)."""
MODEL_VERSION = "model_version"
"""Response and model-metadata parameter: the registry version serving."""
MANIFEST_SPEC = "leadscore_spec"
"""V2 model-metadata parameter holding the artifact's feature spec (JSON)."""
TOP_K = "top_k_reasons"
"""V2 model-metadata parameter: reasons per lead."""

# -- logger CloudEvents names -------------------------------------------------------------------------
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
LOGGER_EXTENSIONS = ("inferenceservicename", "namespace", "component", "endpoint")
SPEC_VERSION = "1.0"


class WireError(ValueError):
    """A V2 body that breaks the wire contract; the message names the tensor or field."""


@dataclass
class ScoreOutputs:
    """What the predictor answers for n leads."""

    probability: np.ndarray
    margin: np.ndarray
    tier: list[str]
    contributions: np.ndarray | None
    """Per business feature contribution to the margin, shape (n, n_features); None when not explained."""
    base_value: np.ndarray | None
    """Per lead base value, shape (n,): ``base_value + contributions.sum(1) == margin``."""
    model_name: str
    model_version: str

    def rows(self, start: int, stop: int) -> ScoreOutputs:
        """The outputs of leads ``start:stop``."""
        return ScoreOutputs(
            probability=self.probability[start:stop],
            margin=self.margin[start:stop],
            tier=self.tier[start:stop],
            contributions=None if self.contributions is None else self.contributions[start:stop],
            base_value=None if self.base_value is None else self.base_value[start:stop],
            model_name=self.model_name,
            model_version=self.model_version,
        )


# -- V2 encode ----------------------------------------------------------------------------------------
def _nulls(x: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in x.ravel().tolist()]


def _flat64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).ravel()


def request_body(
    x: np.ndarray,
    lead_keys: Sequence[str | None] | None,
    request_id: str,
    explain: bool = True,
    *,
    arrays: bool = False,
) -> dict[str, Any]:
    """The V2 infer body for an encoded batch ``x`` (NaN travels as JSON ``null``).

    ``arrays``: the tensor data stays a flat float64 numpy array, for a serializer that writes numpy arrays
    itself with NaN as ``null`` (orjson's ``OPT_SERIALIZE_NUMPY``): the same JSON, without a Python float
    per value."""
    params: dict[str, Any] = {EXPLAIN: explain}
    if lead_keys is not None:
        params[LEAD_KEYS] = list(lead_keys)
    data: Any = _flat64(x) if arrays else _nulls(x)
    return {
        "id": request_id,
        "inputs": [{"name": V2_INPUT, "shape": list(x.shape), "datatype": "FP32", "data": data}],
        "parameters": params,
    }


def response_tensors(out: ScoreOutputs, *, arrays: bool = False) -> list[dict[str, Any]]:
    """The output tensors (name, shape, datatype, data) of :class:`ScoreOutputs` (``arrays``: numeric data
    as flat float64 numpy arrays, see :func:`request_body`)."""
    n = len(out.probability)
    flat = _flat64 if arrays else (lambda a: np.asarray(a, dtype=np.float64).ravel().tolist())
    tensors: list[dict[str, Any]] = [
        {"name": PROBABILITY, "shape": [n], "datatype": "FP64", "data": flat(out.probability)},
        {"name": MARGIN, "shape": [n], "datatype": "FP64", "data": flat(out.margin)},
        {"name": TIER, "shape": [n], "datatype": "BYTES", "data": list(out.tier)},
    ]
    if out.contributions is not None and out.base_value is not None:
        full = np.column_stack([out.contributions, out.base_value])
        tensors.append({"name": CONTRIBUTIONS, "shape": list(full.shape), "datatype": "FP64", "data": flat(full)})
    return tensors


def response_body(out: ScoreOutputs, request_id: str | None, *, arrays: bool = False) -> dict[str, Any]:
    """The V2 infer response for :class:`ScoreOutputs` (``arrays``: see :func:`request_body`)."""
    return {
        "id": request_id,
        "model_name": out.model_name,
        "model_version": out.model_version,
        "outputs": response_tensors(out, arrays=arrays),
        "parameters": {MODEL_VERSION: out.model_version},
    }


def input_metadata(n_columns: int) -> list[dict[str, Any]]:
    """The declared inputs (name, datatype, shape; ``-1``: any number of leads)."""
    return [{"name": V2_INPUT, "datatype": "FP32", "shape": [-1, n_columns]}]


def output_metadata(n_features: int) -> list[dict[str, Any]]:
    """The declared outputs; ``contributions`` only when the request sets ``explain``."""
    return [
        {"name": PROBABILITY, "datatype": "FP64", "shape": [-1]},
        {"name": MARGIN, "datatype": "FP64", "shape": [-1]},
        {"name": TIER, "datatype": "BYTES", "shape": [-1]},
        {"name": CONTRIBUTIONS, "datatype": "FP64", "shape": [-1, n_features + 1]},
    ]


def model_metadata(name: str, version: str, n_columns: int, n_features: int, platform: str = "") -> dict[str, Any]:
    """``GET /v2/models/<name>``: what a stock V2 client needs to call ``infer``."""
    return {
        "name": name,
        "versions": [version],
        "platform": platform,
        "inputs": input_metadata(n_columns),
        "outputs": output_metadata(n_features),
    }


# -- V2 decode ----------------------------------------------------------------------------------------
def find_tensor(tensors: Any, name: str, where: str = "inputs") -> Mapping[str, Any]:
    """The tensor called ``name`` in a list of V2 tensors (dicts).

    Raises:
        WireError: not a list, or no tensor of that name.
    """
    if not isinstance(tensors, list):
        raise WireError(f"{where}: expected a list of V2 tensors")
    found = next((t for t in tensors if isinstance(t, Mapping) and t.get("name") == name), None)
    if found is None:
        raise WireError(f"{where}: no tensor named {name!r}")
    return found


def features_from_tensor(
    shape: Any, data: Any, n_columns: int, max_rows: int | None = None, dtype: type = np.float32
) -> np.ndarray:
    """The ``[n, n_columns]`` batch of the :data:`V2_INPUT` tensor (``null`` -> NaN; FP32 as the booster
    reads it, or ``dtype``).

    Raises:
        WireError: wrong shape, data that does not fill it, non-numbers, infinities, or more rows than
            ``max_rows``.
    """
    where = f"input {V2_INPUT!r}"
    if not isinstance(shape, list | tuple) or len(shape) != 2 or shape[1] != n_columns:
        raise WireError(f"{where}: shape {shape}, expected [n, {n_columns}]")
    if max_rows is not None and shape[0] > max_rows:
        raise WireError(f"{where}: {shape[0]} leads, at most {max_rows}")
    try:
        x: np.ndarray = np.asarray(data, dtype=dtype).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise WireError(f"{where}: data does not match shape {list(shape)}: {exc}") from None
    if np.isinf(x).any():
        raise WireError(f"{where}: infinite values (missing is null/NaN)")
    return x


def outputs_from_response(
    body: Mapping[str, Any], default_name: str = "", default_version: str = "unknown"
) -> ScoreOutputs:
    """Decode a V2 infer response; ``contributions`` and ``tier`` may be absent.

    Raises:
        WireError: no ``outputs``, no ``probability``, or tensors that do not match their shapes.
    """
    try:
        tensors = {t["name"]: t for t in body["outputs"]}
        prob = np.asarray(tensors[PROBABILITY]["data"], dtype=np.float64).reshape(-1)
        n = len(prob)
        margin = np.asarray(tensors[MARGIN]["data"], dtype=np.float64).reshape(-1) if MARGIN in tensors else None
        tiers = (
            [t.decode() if isinstance(t, bytes) else str(t) for t in tensors[TIER]["data"]] if TIER in tensors else []
        )
        contributions = base = None
        if CONTRIBUTIONS in tensors:
            c = np.asarray(tensors[CONTRIBUTIONS]["data"], dtype=np.float64).reshape(tensors[CONTRIBUTIONS]["shape"])
            if c.ndim != 2 or len(c) != n:
                raise WireError(f"output {CONTRIBUTIONS!r}: shape {list(c.shape)}, expected [{n}, n_features + 1]")
            contributions, base = c[:, :-1], c[:, -1]
    except WireError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not a V2 response of this model: {type(exc).__name__}: {exc}") from None
    params = body.get("parameters") or {}
    version = (params.get(MODEL_VERSION) if isinstance(params, Mapping) else None) or body.get("model_version")
    return ScoreOutputs(
        probability=prob,
        margin=margin if margin is not None else np.full(n, np.nan),
        tier=tiers,
        contributions=contributions,
        base_value=base,
        model_name=str(body.get("model_name") or default_name),
        model_version=str(version or default_version),
    )


# -- logger CloudEvents ---------------------------------------------------------------------------------
class BadEvent(Exception):
    """An event a consumer refuses: answered with ``status`` and ``reason``, counted, never retried."""

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


def _attributes(lowered: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], Any]:
    """(attributes, raw data) of a binary-mode or structured-mode delivery."""
    if "ce-specversion" in lowered:
        attrs: dict[str, Any] = {k[3:]: v for k, v in lowered.items() if k.startswith("ce-")}
        return attrs, body
    if lowered.get("content-type", "").startswith("application/cloudevents+json"):
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadEvent(400, f"not a CloudEvent: structured body is not JSON: {exc}", "malformed") from exc
        if not isinstance(doc, dict):
            raise BadEvent(400, "not a CloudEvent: structured body is not an object", "malformed")
        data = doc.pop("data", None)
        return doc, data if data is not None else doc.pop("data_base64", None)
    raise BadEvent(400, "not a CloudEvent: no ce-specversion header and not application/cloudevents+json", "malformed")


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
    attrs, data = _attributes(lowered, body)
    if str(attrs.get("specversion") or "") != SPEC_VERSION:
        raise BadEvent(400, f"not a CloudEvent: specversion {str(attrs.get('specversion'))[:20]!r}", "malformed")
    ce_id = str(attrs.get("id") or "").strip()
    if not ce_id:
        raise BadEvent(400, "missing ce-id (the request/response join key)", "missing_id")
    for required in ("source", "type"):
        if not str(attrs.get(required) or "").strip():
            raise BadEvent(400, f"not a CloudEvent: missing ce-{required}", "malformed")
    ce_type = str(attrs["type"])
    accepted = set(accepted_types) if accepted_types is not None else {ce_type}
    if ce_type not in accepted:
        raise BadEvent(
            422, f"unknown event type {ce_type[:100]!r} (accepted: {', '.join(sorted(accepted))})", "unknown_type"
        )
    return LoggedEvent(
        id=ce_id,
        type=ce_type,
        source=str(attrs["source"]),
        body=_json_body(data),
        time=_time(attrs.get("time")),
        inferenceservicename=attrs.get("inferenceservicename"),
        namespace=attrs.get("namespace"),
        component=attrs.get("component"),
        endpoint=str(attrs.get("endpoint") or "default"),
        metadata=_metadata(attrs.get("metadata")),
    )


def _json_body(data: Any) -> Any:
    if isinstance(data, bytes | bytearray | str):
        try:
            parsed = json.loads(data) if data else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadEvent(400, f"body is not JSON: {exc}", "malformed") from exc
    else:
        parsed = data
    if parsed is None:
        raise BadEvent(400, "empty body", "malformed")
    return parsed


def _metadata(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _time(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC)
    if isinstance(raw, str) and raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _binary(attrs: Mapping[str, Any], body: bytes) -> tuple[dict[str, str], bytes]:
    headers = {f"ce-{k}": str(v) for k, v in attrs.items() if k != "datacontenttype"}
    headers["content-type"] = str(attrs.get("datacontenttype") or "application/json")
    return headers, body


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
        "specversion": SPEC_VERSION,
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
    return _binary(attrs, body)


def reply_event(ce_type: str, ce_id: str, source: str, payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent emitted by a monitor (drift, retrain) with a JSON body."""
    attrs = {
        "specversion": SPEC_VERSION,
        "id": ce_id,
        "type": ce_type,
        "source": source,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return _binary(attrs, json.dumps(dict(payload)).encode())
