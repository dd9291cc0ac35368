"""The kserve transformer: ``kserve.Model`` whose preprocess/postprocess wrap the V2 hop to the predictor."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

import aiohttp
import httpx
import kserve
import orjson
from kserve.errors import InvalidInput
from kserve.model import append_forwardable_headers
from prometheus_client import REGISTRY

from leadscore_core.contract import spec_from_json
from leadscore_core.wire import MANIFEST_SPEC, MODEL_VERSION, TOP_K, WireError, outputs_from_response, request_body
from leadscore_front.errors import PredictorUnavailable, RequestError
from leadscore_front.front import ParsedLeads, ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_transformer.settings import TransformerSettings

log = logging.getLogger("leadscore.transformer")
_current: contextvars.ContextVar[ParsedLeads] = contextvars.ContextVar("leadscore_parsed")


class LeadTransformer(kserve.Model):
    """CRM leads -> V2 ``features`` (preprocess); V2 outputs -> CRM scores with reasons (postprocess).

    ``load()`` reads the feature contract from the predictor's V2 model metadata, so the transformer and
    the predictor of one revision always agree on it; it is ready only once that succeeded. Afterwards
    :meth:`watch_predictor` keeps ``ready`` (and ``leadscore_ready{component="transformer"}``) true only
    while the predictor answers its readiness probe.
    """

    def __init__(self, settings: TransformerSettings, predictor_url: str, load_timeout: float) -> None:
        super().__init__(settings.model_name)
        self.settings = settings
        self.predictor_url = predictor_url.rstrip("/")
        self.infer_url = f"{self.predictor_url}/v2/models/{self.name}/infer"
        self.load_timeout = load_timeout
        self.front: ScoringFront | None = None
        self.model_version = "unknown"
        self._session: aiohttp.ClientSession | None = None

    def load(self) -> bool:
        url = f"{self.predictor_url}/v2/models/{self.name}"
        deadline = time.monotonic() + self.load_timeout
        last = "no answer"
        log.info("waiting up to %.1fs for the feature contract from %s", self.load_timeout, url)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("predictor %s gave no feature contract within %.1fs: %s", url, self.load_timeout, last)
                self.ready = False
                return False
            try:
                r = httpx.get(url, timeout=min(5.0, max(left, 0.05)))
                params = r.json().get("parameters") or {} if r.status_code == 200 else {}
                if MANIFEST_SPEC in params:
                    break
                last = f"HTTP {r.status_code}, model not ready"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc or 'timed out'}"
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.0)))
        spec = spec_from_json(params[MANIFEST_SPEC])
        self.model_version = str(params.get(MODEL_VERSION, "unknown"))
        metrics = FrontMetrics.shared(REGISTRY, self.settings.revision, component="transformer")
        self.front = ScoringFront(spec, self.settings, metrics, top_k=int(params.get(TOP_K, 3)))
        metrics.set_model(self.name, self.model_version, spec.name, spec.fingerprint())
        log.info("contract %s v%s from %s (model version %s)", spec.name, spec.version, url, self.model_version)
        self.ready = True
        return True

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Validated leads -> the V2 request (no PII: encoded features and salted lead keys)."""
        front = self.front
        assert front is not None
        if isinstance(payload, ParsedLeads):
            parsed = payload
        else:  # kserve's own /v1 route: raw dict body
            try:
                parsed = front.parse(orjson.dumps(payload.get("instances", payload)), "kserve-v1")
            except RequestError as exc:
                raise InvalidInput("; ".join(f"{i.field}: {i.reason}" for i in exc.issues) or exc.message) from None
        _current.set(parsed)
        x = front.encode(parsed)
        return request_body(x, parsed.lead_keys, parsed.request_id)

    async def predict(
        self, payload: Any, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> dict[str, Any]:
        """The V2 hop: the JSON body straight to the predictor's ``infer`` and its JSON answer back.

        kserve's REST client wraps the same JSON in ``InferRequest``/``InferResponse`` objects over httpx,
        whose connection pool alone took 70% of this process's CPU under load; one pooled aiohttp session
        posting bytes costs a fraction (docs/benchmarks.md, Serving). The forwarded headers are kserve's
        own selection (request id, tracing).
        """
        t = time.perf_counter()
        try:
            async with self.session().post(
                self.infer_url,
                data=orjson.dumps(payload),
                headers=append_forwardable_headers(headers, {"content-type": "application/json"}),
            ) as r:
                body = await r.read()
                if r.status != 200:
                    raise PredictorUnavailable(f"predictor answered HTTP {r.status}: {body[:200]!r}")
            doc: dict[str, Any] = orjson.loads(body)
            return doc
        except TimeoutError:
            timeout = self.settings.predictor_timeout_seconds
            raise PredictorUnavailable(f"TimeoutError: no answer from {self.infer_url} within {timeout}s") from None
        except (aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            raise PredictorUnavailable(f"{type(exc).__name__}: {exc or 'no detail'} ({self.infer_url})") from None
        finally:
            assert self.front is not None
            self.front.metrics.stage("predict", time.perf_counter() - t)

    # -- readiness ---------------------------------------------------------------------------
    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Readiness of this transformer (kserve's model ready, ``/v2/health/ready``, ``leadscore_ready``)."""
        if ready != self.ready:
            if ready:
                log.info("predictor %s answers again: ready", self.predictor_url)
            else:
                log.warning("predictor %s unreachable (%s): NOT ready", self.predictor_url, reason)
        self.ready = ready
        if self.front is not None:
            self.front.metrics.set_ready(ready)

    async def probe_predictor(self, session: aiohttp.ClientSession) -> str:
        """One bounded readiness probe of the predictor's model; ``""`` when ready, else the reason."""
        url = f"{self.predictor_url}/v2/models/{self.name}/ready"
        try:
            async with session.get(url) as r:
                return "" if r.status == 200 else f"HTTP {r.status}"
        except TimeoutError:
            return f"no answer within {self.settings.health_timeout_seconds}s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc or 'no detail'}"

    async def watch_predictor(self) -> None:
        """Probe the predictor every ``health_interval_seconds``: not ready after ``health_failures`` failed
        probes in a row, ready again after one success. Runs until cancelled."""
        s = self.settings
        failures = 0
        timeout = aiohttp.ClientTimeout(total=s.health_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                reason = await self.probe_predictor(session)
                if not reason:
                    failures = 0
                    self.set_ready(True)
                else:
                    failures += 1
                    if failures >= s.health_failures:
                        self.set_ready(False, reason)
                await asyncio.sleep(s.health_interval_seconds)

    def session(self) -> aiohttp.ClientSession:
        """The pooled client session, created on the server's event loop at the first request."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.predictor_timeout_seconds)
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                timeout=timeout, connector=connector, skip_auto_headers=("User-Agent",), raise_for_status=False
            )
        return self._session

    async def postprocess(
        self, result: Any, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> list[dict[str, Any]]:
        """V2 outputs -> one CRM result per lead (score, tier, top-k reasons, model version)."""
        front = self.front
        assert front is not None and isinstance(result, dict)
        try:
            out = outputs_from_response(result, self.name, self.model_version)
        except WireError as exc:
            raise PredictorUnavailable(f"predictor answer is not the V2 contract: {exc}") from None
        return front.respond(_current.get(), out)

    async def score(self, parsed: ParsedLeads, headers: dict[str, str]) -> list[dict[str, Any]]:
        """The whole kserve lifecycle (preprocess -> V2 predict -> postprocess) for one validated request."""
        result, _ = await self(parsed, headers)
        return result
