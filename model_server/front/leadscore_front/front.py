"""The ``/score-lead`` pipeline every server shares: admit, validate, encode, (predict), respond."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError

from leadscore_core.contract import FeatureSpec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.events import lead_key
from leadscore_core.logs import RateLimitedLog
from leadscore_core.reasons import reasons
from leadscore_core.validation import check_id, check_record
from leadscore_core.wire import ScoreOutputs
from leadscore_front.api import build_lead_model, raw_name_hints
from leadscore_front.auth import Authenticator
from leadscore_front.errors import FieldIssue, PredictorUnavailable, RequestError
from leadscore_front.metrics import FrontMetrics
from leadscore_front.ratelimit import RateLimiter
from leadscore_front.settings import FrontSettings

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log, interval=10.0)
JSON = "application/json"
UNAVAILABLE = "the model server did not answer in time or is not ready; retry after the Retry-After delay"
"""The 503 reason clients see; the internal address and error are only logged (rate-limited)."""
MAX_REQUEST_ID = 128


@dataclass
class ParsedLeads:
    """A validated request: clean feature values per lead, no PII."""

    single: bool
    lead_ids: list[str]
    lead_keys: list[str]
    values: list[dict[str, Any]]
    request_id: str
    imputed: list[list[str]] = field(default_factory=list)
    """Per lead: features scored without a value of their own (missing: allow / impute)."""
    unknown: list[list[str]] = field(default_factory=list)
    """Per lead: categorical features outside the vocabulary (scored as ``__other__`` / missing)."""


@dataclass
class Reply:
    """An HTTP answer: status, JSON bytes, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


ScoreFn = Callable[[ParsedLeads], Awaitable[list[dict[str, Any]]]]


async def read_limited(stream: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it exceeds ``limit`` bytes (then answer 413)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _pydantic_issues(
    exc: ValidationError, prefix: str, hints: Mapping[str, str], features: frozenset[str]
) -> list[FieldIssue]:
    seen: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else "body"
        path = f"{prefix}{name}"
        if path in seen:
            continue
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            hint = f"; the API name of this column is {hints[name]!r}" if name in hints else ""
            seen[path] = f"unknown field (not in the feature contract){hint}"
        elif kind == "missing":
            seen[path] = "is required (send null if the value is unknown)" if name in features else "is required"
        else:
            seen[path] = str(err.get("msg", "invalid value"))
    return [FieldIssue(k, v) for k, v in seen.items()]


class ScoringFront:
    """Validation, encoding and response building for one model's feature contract."""

    def __init__(
        self,
        spec: FeatureSpec,
        settings: FrontSettings,
        metrics: FrontMetrics,
        *,
        top_k: int = 3,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.metrics = metrics
        self.top_k = top_k
        self.encoder = FeatureEncoder(spec)
        self.lead_model: type[BaseModel] = build_lead_model(spec)
        self.auth = Authenticator(settings)
        self.limiter = RateLimiter(
            settings, on_storage_error=self.metrics.rate_limit_errors.labels(metrics.revision).inc
        )
        self._id = spec.id_column
        self._hints = raw_name_hints(spec)
        self._feature_set = frozenset(spec.feature_names)
        self._features = spec.features
        self._names = spec.feature_names

    # -- stages -------------------------------------------------------------------------------
    def check_length(self, content_length: str | None) -> None:
        """Refuse a declared body larger than the limit before reading it (413)."""
        if content_length is None:
            return
        try:
            n = int(content_length)
        except ValueError:
            raise RequestError(400, "bad request", [FieldIssue("content-length", "not an integer")]) from None
        if n > self.settings.max_body_bytes:
            raise self.too_large()

    @staticmethod
    def check_content_type(content_type: str | None) -> None:
        """Refuse a declared non-JSON body (415); no header at all is read as JSON."""
        if not content_type:
            return
        media = content_type.split(";", 1)[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            reason = f"{media!r} is not JSON; send Content-Type: application/json"
            raise RequestError(415, "unsupported media type", [FieldIssue("content-type", reason)])

    def too_large(self) -> RequestError:
        limit = self.settings.max_body_bytes
        return RequestError(413, "request body too large", [FieldIssue("body", f"larger than {limit} bytes")])

    async def admit(self, headers: Mapping[str, str], peer: str) -> str:
        """Authenticate and rate-limit; returns the client name."""
        client = self.auth.client(headers, peer)
        await self.limiter.check(client)
        return client

    def parse(self, body: bytes, request_id: str) -> ParsedLeads:
        """Validate a JSON body (one lead or a list) against the contract.

        Raises:
            RequestError: 400 malformed JSON, 413 too large, 422 contract violations.
        """
        if len(body) > self.settings.max_body_bytes:
            raise self.too_large()
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RequestError(400, "malformed JSON", [FieldIssue("body", str(exc)[:200])]) from None
        if isinstance(doc, dict):
            single, items = True, [doc]
        elif isinstance(doc, list):
            single, items = False, doc
            if not items:
                raise RequestError(422, "invalid request", [FieldIssue("body", "empty list of leads")])
            if len(items) > self.settings.max_leads:
                reason = f"{len(items)} leads, at most {self.settings.max_leads} per call"
                raise RequestError(422, "too many leads", [FieldIssue("body", reason)])
        else:
            raise RequestError(422, "invalid request", [FieldIssue("body", "expected a lead object or a list of them")])
        issues: list[FieldIssue] = []
        ids: list[str] = []
        values: list[dict[str, Any]] = []
        missing: list[list[str]] = []
        unknown: list[list[str]] = []
        for i, item in enumerate(items):
            prefix = "" if single else f"{i}."
            if not isinstance(item, dict):
                issues.append(FieldIssue(prefix.rstrip(".") or "body", "expected a lead object"))
                continue
            try:
                lead = self.lead_model.model_validate(item)
            except ValidationError as exc:
                issues.extend(_pydantic_issues(exc, prefix, self._hints, self._feature_set))
                continue
            raw = lead.__dict__
            lead_id, id_issue = check_id(raw[self._id])
            if id_issue:
                issues.append(FieldIssue(f"{prefix}{self._id}", id_issue))
            rec = check_record(self.spec, raw, features=self._features)
            if rec.issues or lead_id is None:
                issues.extend(FieldIssue(f"{prefix}{x.field}", x.reason) for x in rec.issues)
                continue
            ids.append(lead_id)
            values.append(rec.values)
            missing.append(rec.missing)
            unknown.append(rec.unknown)
        if issues:
            self.metrics.refused(i.field.rsplit(".", 1)[-1] for i in issues)
            raise RequestError(422, "request breaks the feature contract", issues)
        self.metrics.quality([f for m in missing for f in m], [f for u in unknown for f in u])
        salt = self.settings.pii_salt
        return ParsedLeads(single, ids, [lead_key(x, salt) for x in ids], values, request_id, missing, unknown)

    def encode(self, parsed: ParsedLeads) -> np.ndarray:
        t = time.perf_counter()
        x = self.encoder.encode_records(parsed.values)
        self.metrics.stage("encode", time.perf_counter() - t)
        return x

    def respond(self, parsed: ParsedLeads, out: ScoreOutputs) -> list[dict[str, Any]]:
        """CRM results of a scored batch (:func:`leadscore_core.reasons.reasons`), and the score metrics."""
        t = time.perf_counter()
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        names = self._names
        scores = np.rint(out.probability * 100).astype(np.int64).tolist()
        probs = out.probability.tolist()
        if out.contributions is None:
            raise PredictorUnavailable("predictor answered without contributions (explain was requested)")
        lead_reasons = reasons(out.contributions, names, parsed.values, self.top_k)
        results = []
        for i, lead_id in enumerate(parsed.lead_ids):
            results.append(
                {
                    "lead_id": lead_id,
                    "score": scores[i],
                    "probability": round(probs[i], 6),
                    "tier": out.tier[i],
                    "reasons": lead_reasons[i],
                    "model_name": out.model_name,
                    "model_version": out.model_version,
                    "request_id": parsed.request_id,
                    "scored_at": now,
                    "imputed": parsed.imputed[i] if parsed.imputed else [],
                    "unknown_categories": parsed.unknown[i] if parsed.unknown else [],
                }
            )
        self.metrics.scored(scores, out.tier, out.model_version)
        self.metrics.stage("respond", time.perf_counter() - t)
        return results

    # -- the whole request --------------------------------------------------------------------
    async def handle(self, body: bytes, headers: Mapping[str, str], peer: str, score: ScoreFn) -> Reply:
        """Run one ``/score-lead`` request; ``score`` encodes, predicts and calls :meth:`respond`.

        Header names must be lower-case. Client mistakes become 4xx replies naming the field; a failing
        predictor becomes 502/503; nothing here raises.
        """
        start = time.perf_counter()
        rid = headers.get("x-request-id", "")
        request_id = rid if 0 < len(rid) <= MAX_REQUEST_ID else uuid.uuid4().hex
        status = 200
        version: str | None = None
        try:
            t = start
            await self.admit(headers, peer)
            self.check_content_type(headers.get("content-type"))
            t2 = time.perf_counter()
            self.metrics.stage("admit", t2 - t)
            parsed = self.parse(body, request_id)
            self.metrics.stage("validate", time.perf_counter() - t2)
            results = await score(parsed)
            version = str(results[0].get("model_version")) if results else None
            payload = orjson.dumps(results[0] if parsed.single else results)
            reply = Reply(200, payload, {"x-request-id": request_id})
        except RequestError as exc:
            status = exc.status
            reply = Reply(status, orjson.dumps(exc.body()), {**exc.headers, "x-request-id": request_id})
        except PredictorUnavailable as exc:
            status = 503
            _limited.warning("503", "predictor unavailable (request %s): %s", request_id, exc)
            err = {"error": "model not available", "issues": [{"field": "model", "reason": UNAVAILABLE}]}
            reply = Reply(status, orjson.dumps(err), {"retry-after": "1", "x-request-id": request_id})
        except Exception:  # a bug or a broken predictor: answer 500, keep serving, log without the body
            status = 500
            _limited.log(logging.ERROR, "500", "score-lead failed (request %s)", request_id, exc_info=True)
            reply = Reply(status, orjson.dumps({"error": "internal error", "issues": []}), {"x-request-id": request_id})
        self.metrics.request(status, time.perf_counter() - start, version)
        return reply


__all__ = ["JSON", "ParsedLeads", "PredictorUnavailable", "Reply", "ScoringFront", "read_limited"]
