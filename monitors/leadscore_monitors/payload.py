"""Decoding logged bodies into leads (clean features, no PII) and predictions.

Accepted request bodies:

- V2 ``infer`` as the transformer sends it to the predictor (the wire contract): one FP32 input
  ``features`` of shape ``[n, n_columns]`` encoded by :class:`~leadscore_core.encoding.FeatureEncoder`;
  decoded back to business values (one-hot -> category). Lead keys, when the caller sends them, come
  from ``parameters.lead_keys`` or the event's ``metadata`` extension (header ``X-Lead-Keys``).
- V1 ``{"instances": [{feature: value, ...}]}`` and the CRM ``/score-lead`` body (one lead, a list, or
  ``{"leads": [...]}``): validated with the feature contract; PII dropped; ``lead_id`` replaced by its
  salted :func:`~leadscore_core.events.lead_key`.

Accepted response bodies: V2 (outputs ``probability``, ``tier``, ``contributions``; ``model_version``),
V1 ``{"predictions": [...]}`` and the CRM response (one object or a list). Anything else is a
:class:`~leadscore_monitors.cloudevent.BadEvent` with status 422 naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from leadscore_core.contract import OTHER, FeatureSpec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.events import lead_key
from leadscore_core.reasons import reasons
from leadscore_core.validation import check_record
from leadscore_core.wire import V2_INPUT, WireError, features_from_tensor, find_tensor, outputs_from_response

from leadscore_monitors.cloudevent import BadEvent

MAX_LEADS = 10_000


@dataclass
class Lead:
    """One lead of a logged request: clean feature values, never PII."""

    features: dict[str, Any]
    lead_key: str | None = None


@dataclass
class Prediction:
    """One lead's answer from a logged response."""

    probability: float
    tier: str | None = None
    score: int | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    model_name: str | None = None
    model_version: str | None = None


def _contract_error(msg: str) -> BadEvent:
    return BadEvent(422, msg, "contract")


class RequestDecoder:
    """Turns a logged request body into :class:`Lead` rows under one feature contract."""

    def __init__(self, spec: FeatureSpec, salt: str) -> None:
        self.spec = spec
        self.salt = salt
        self.encoder = FeatureEncoder(spec)
        self._pii = set(spec.pii_fields)
        self._id = spec.id_column
        self._layout: list[tuple[str, str, int, list[str] | None]] = []
        col = 0
        for f in spec.features:
            vocab = [*f.vocab, OTHER] if f.type == "categorical" and f.vocab is not None else None
            native = vocab is not None and f.encoding == "native"  # one column of category codes
            self._layout.append((f.name, "native" if native else f.type, col, vocab))
            col += len(vocab) if vocab is not None and not native else 1

    def decode(self, body: Any, metadata: Mapping[str, Any] | None = None) -> list[Lead]:
        """Decode ``body`` (parsed JSON).

        Raises:
            BadEvent: 422 when the body matches no accepted format or breaks the contract.
        """
        if isinstance(body, dict) and "inputs" in body:
            return self._v2(body, metadata or {})
        if isinstance(body, dict) and "instances" in body:
            return self._records(body["instances"], "instances")
        if isinstance(body, dict) and "leads" in body:
            return self._records(body["leads"], "leads")
        if isinstance(body, dict):
            return self._records([body], "body")
        if isinstance(body, list):
            return self._records(body, "body")
        raise _contract_error(f"request body is a {type(body).__name__}, expected a V2/V1/CRM JSON object")

    def _records(self, items: Any, where: str) -> list[Lead]:
        if not isinstance(items, list) or not items:
            raise _contract_error(f"{where}: expected a non-empty list of leads")
        if len(items) > MAX_LEADS:
            raise _contract_error(f"{where}: {len(items)} leads, at most {MAX_LEADS}")
        out = []
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                raise _contract_error(f"{where}[{i}]: expected an object, got {type(raw).__name__}")
            known = {k for k in raw if k in self.encoder.feature_names}
            if not known:
                raise _contract_error(f"{where}[{i}]: no feature of contract {self.spec.name!r}")
            rec = check_record(self.spec, raw)
            if not rec.ok:
                raise _contract_error(f"{where}[{i}]: " + "; ".join(str(x) for x in rec.issues[:5]))
            key = raw.get("lead_key")
            if key is None and raw.get(self._id) is not None:
                key = lead_key(str(raw[self._id]), self.salt)
            out.append(Lead(features=rec.values, lead_key=str(key) if key is not None else None))
        return out

    def _v2(self, body: dict[str, Any], metadata: Mapping[str, Any]) -> list[Lead]:
        try:
            tensor = find_tensor(body.get("inputs"), V2_INPUT)
            x = features_from_tensor(
                tensor.get("shape"), tensor.get("data"), self.encoder.n_columns, MAX_LEADS, np.float64
            )
        except WireError as exc:
            raise _contract_error(f"inputs: {exc} (contract {self.spec.name!r})") from exc
        keys = _lead_keys(body, metadata, x.shape[0])
        return [Lead(features=self._decode_row(row), lead_key=k) for row, k in zip(x, keys, strict=True)]

    def _decode_row(self, row: np.ndarray) -> dict[str, Any]:
        values = row.tolist()  # plain floats: per-element numpy access costs more than the decoding
        out: dict[str, Any] = {}
        for name, kind, start, vocab in self._layout:
            if kind == "native" and vocab is not None:
                code = values[start]
                out[name] = vocab[int(code)] if code == code and 0 <= code < len(vocab) else None
                continue
            if vocab is not None:
                hot = None
                for k in range(len(vocab)):
                    if values[start + k] > 0.5:
                        hot = vocab[k]
                        break
                out[name] = hot
                continue
            v = values[start]
            if v != v:  # NaN
                out[name] = None
            elif kind == "boolean":
                out[name] = v >= 0.5
            elif kind == "numeric":
                out[name] = v
            else:  # text is encoded as its length; the text itself is not logged
                out[name] = None
        return out


def _lead_keys(body: Mapping[str, Any], metadata: Mapping[str, Any], n: int) -> list[str | None]:
    params = body.get("parameters") or {}
    keys = params.get("lead_keys") if isinstance(params, dict) else None
    if keys is None:
        header = {k.lower(): v for k, v in metadata.items()}.get("x-lead-keys")
        if isinstance(header, list):
            header = ",".join(str(h) for h in header)
        keys = [k.strip() for k in str(header).split(",")] if header else None
    if isinstance(keys, list) and len(keys) == n:
        return [str(k) if k else None for k in keys]
    return [None] * n


def decode_response(body: Any, feature_names: Sequence[str], top_k: int = 3) -> list[Prediction]:
    """Decode a logged response body into one :class:`Prediction` per lead.

    Raises:
        BadEvent: 422 when no probability can be read.
    """
    if isinstance(body, dict) and "outputs" in body:
        return _v2_response(body, feature_names, top_k)
    if isinstance(body, dict) and "predictions" in body:
        items = body["predictions"]
    elif isinstance(body, dict) and "results" in body:
        items = body["results"]
    elif isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
    else:
        raise _contract_error(f"response body is a {type(body).__name__}, expected a V2/V1/CRM JSON object")
    if not isinstance(items, list) or not items:
        raise _contract_error("response: expected a non-empty list of predictions")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, int | float) and not isinstance(item, bool):
            out.append(Prediction(probability=_prob(item, f"predictions[{i}]")))
        elif isinstance(item, dict) and "probability" in item:
            reasons = item.get("reasons") or []
            out.append(
                Prediction(
                    probability=_prob(item["probability"], f"predictions[{i}].probability"),
                    tier=item.get("tier"),
                    score=int(item["score"]) if isinstance(item.get("score"), int | float) else None,
                    reasons=reasons if isinstance(reasons, list) else [],
                    model_name=item.get("model_name"),
                    model_version=str(item["model_version"]) if item.get("model_version") is not None else None,
                )
            )
        else:
            raise _contract_error(f"predictions[{i}]: no probability")
    return out


def _prob(v: Any, where: str) -> float:
    try:
        p = float(v)
    except (TypeError, ValueError) as exc:
        raise _contract_error(f"{where}: not a number") from exc
    if not (0.0 <= p <= 1.0):
        raise _contract_error(f"{where}: probability {p} outside [0, 1]")
    return p


def _v2_response(body: dict[str, Any], feature_names: Sequence[str], top_k: int) -> list[Prediction]:
    try:
        out = outputs_from_response(body, default_version="")
    except WireError as exc:
        raise _contract_error(f"outputs: {exc}") from exc
    probs = [_prob(v, "outputs[probability]") for v in out.probability]
    contribs = out.contributions
    if contribs is not None and contribs.shape[1] != len(feature_names):
        contribs = None  # another contract's answer: keep the scores, not the reasons
    lead_reasons = reasons(contribs, feature_names, None, top_k) if contribs is not None else [[] for _ in probs]
    return [
        Prediction(
            probability=p,
            tier=out.tier[i] if i < len(out.tier) else None,
            score=int(round(p * 100)),
            reasons=lead_reasons[i],
            model_name=out.model_name or None,
            model_version=out.model_version or None,
        )
        for i, p in enumerate(probs)
    ]
