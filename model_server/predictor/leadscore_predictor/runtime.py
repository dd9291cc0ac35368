"""The custom MLServer runtime: V2 ``infer`` plus the CRM ``/score-lead`` custom handler."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import numpy as np
import orjson
from fastapi import Request, Response
from mlserver import MLModel
from mlserver.errors import InferenceError, ModelNotReady
from mlserver.handlers import custom_handler
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataTensor,
    Parameters,
    ResponseOutput,
)
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from leadscore_core.artifact import LeadScorer
from leadscore_core.resolve import resolve_artifact
from leadscore_core.wire import (
    EXPLAIN,
    MANIFEST_SPEC,
    MODEL_VERSION,
    TOP_K,
    V2_INPUT,
    ScoreOutputs,
    WireError,
    features_from_tensor,
    input_metadata,
    output_metadata,
    response_tensors,
)
from leadscore_front.front import JSON, ParsedLeads, Reply, ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.openapi import openapi_document
from leadscore_front.route import score_lead as handle_score_lead
from leadscore_predictor import fastpath
from leadscore_predictor.events import EventEmitter, build_emitter
from leadscore_predictor.settings import PredictorSettings

log = logging.getLogger("leadscore.predictor")


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in {"1", "true", "yes"})


def to_response(reply: Reply) -> Response:
    return Response(content=reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers)


class ModelLoadError(RuntimeError):
    """The artifact could not be loaded; raised out of :meth:`LeadScoringRuntime.load` so MLServer fails the
    load (no "Loaded model ... successfully" line) and, at startup, stops the server."""


class LeadScoringRuntime(MLModel):
    """Loads a leadscore artifact; ready only after a successful load.

    A failed load (missing, unparsable, tampered artifact: see ``leadscore_core.artifact``) is logged once
    at ERROR with the reason and raised as :class:`ModelLoadError`: MLServer then unregisters the model and,
    at startup, stops; ``python -m leadscore_predictor`` exits 1 (Kubernetes restarts it, never ready).
    """

    _scorer: LeadScorer | None = None
    _front: ScoringFront | None = None
    _config: PredictorSettings | None = None
    _version: str = "unversioned"
    _openapi: bytes = b"{}"
    _approx: bool | None = None
    _metrics: FrontMetrics | None = None
    _events: EventEmitter | None = None
    _fault_delay_s: float = 0.0
    load_error: ClassVar[str | None] = None
    """The reason of this process's last failed load (``__main__`` exits 1 when startup ended on one)."""
    serving: ClassVar[LeadScoringRuntime | None] = None
    """The runtime whose ``/score-lead`` this process answers: the last one loaded, until it is unloaded (a
    reload loads the new one before it unloads the old one)."""

    async def load(self) -> bool:
        settings = PredictorSettings()
        self._config = settings
        params = self.settings.parameters
        uri = (params.uri if params and params.uri else None) or settings.model_uri
        # leadscore_ready is 0 until loaded; "not loaded" replies are counted here meanwhile
        self._metrics = FrontMetrics.shared(REGISTRY, settings.revision, component="predictor")
        try:
            resolved = resolve_artifact(uri)
            path = resolved.path
            scorer = LeadScorer(path).load(nthread=settings.nthread)
            manifest = scorer.manifest
            assert manifest is not None
            version = (
                settings.model_version
                or (params.version if params and params.version else "")
                or resolved.version
                or "unversioned"
            )
            metrics = FrontMetrics.shared(REGISTRY, settings.revision, component="predictor")
            front = ScoringFront(manifest.spec, settings, metrics, top_k=manifest.top_k_reasons)
            self._openapi = orjson.dumps(openapi_document(front))
            self._events = build_emitter(settings.revision, REGISTRY)
        except Exception as exc:  # one ERROR line with the reason; MLServer must not call it a success
            reason = f"model {self.name!r} NOT loaded from {uri}: {type(exc).__name__}: {exc}"
            log.error("%s", reason)
            LeadScoringRuntime.load_error = reason
            raise ModelLoadError(reason) from None
        LeadScoringRuntime.load_error = None
        LeadScoringRuntime.serving = self
        self._scorer, self._front, self._version = scorer, front, version
        self._approx = None if settings.reasons is None else settings.reasons == "approx"
        self._fault_delay_s = settings.local_fault_delay_ms / 1000
        if self._fault_delay_s:
            log.warning(
                "LOCAL FAULT INJECTION: every /score-lead answer is delayed by %d ms", settings.local_fault_delay_ms
            )
        metrics.set_model(manifest.model_name, version, manifest.spec.name, manifest.spec_fingerprint)
        log.info("model %r version %s loaded from %s (spec %s)", self.name, version, path, manifest.spec.name)
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        return True

    async def unload(self) -> bool:
        if LeadScoringRuntime.serving is self:
            LeadScoringRuntime.serving = None
        return await super().unload()

    # -- V2 ---------------------------------------------------------------------------------------
    async def metadata(self) -> MetadataModelResponse:
        """V2 model metadata (:mod:`leadscore_core.wire`): the input and output tensors, the version, plus
        the feature contract, so a stock V2 client and the transformer need no copy of the artifact."""
        meta = await super().metadata()
        scorer = self._scorer
        if scorer is not None and scorer.manifest is not None and scorer.encoder is not None:
            meta.versions = [self._version]
            meta.inputs = [MetadataTensor(**t) for t in input_metadata(scorer.encoder.n_columns)]
            meta.outputs = [MetadataTensor(**t) for t in output_metadata(len(scorer.encoder.feature_names))]
            extra = {
                MANIFEST_SPEC: scorer.manifest.spec.model_dump_json(),
                TOP_K: scorer.manifest.top_k_reasons,
                MODEL_VERSION: self._version,
            }
            base = meta.parameters.model_dump(exclude_none=True) if meta.parameters else {}
            meta.parameters = Parameters(**base, **extra)
        return meta

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        scorer = self._scorer
        if scorer is None or scorer.encoder is None:
            raise ModelNotReady(self.name)
        inp = next((i for i in payload.inputs if i.name == V2_INPUT), None)
        if inp is None:
            raise InferenceError(f"input {V2_INPUT!r} is required (FP32 [n, {scorer.encoder.n_columns}])")
        data = inp.data.root if hasattr(inp.data, "root") else inp.data
        try:
            x = features_from_tensor(inp.shape, data, scorer.encoder.n_columns)
        except WireError as exc:
            raise InferenceError(str(exc)) from None
        explain = _truthy((payload.parameters.model_extra or {}).get(EXPLAIN)) if payload.parameters else False
        out = self._outputs(scorer, x, explain)
        return InferenceResponse(
            id=payload.id,
            model_name=self.name,
            model_version=self._version,
            outputs=[ResponseOutput(**t) for t in response_tensors(out)],
            parameters=Parameters(**{MODEL_VERSION: self._version}),
        )

    def _outputs(self, scorer: LeadScorer, x: np.ndarray, explain: bool) -> ScoreOutputs:
        batch = scorer.score(x, explain=explain, approx=self._approx)
        explained = explain and batch.contributions is not None
        return ScoreOutputs(
            probability=batch.probability,
            margin=batch.margin,
            tier=batch.tier,
            contributions=batch.contributions if explained else None,
            base_value=np.full(len(batch.margin), batch.base_value) if explained else None,
            model_name=self.name,
            model_version=self._version,
        )

    # -- CRM front (custom handlers on the V2 HTTP port) -------------------------------------------
    async def _score_in_process(self, parsed: ParsedLeads) -> list[dict[str, Any]]:
        scorer, front = self._scorer, self._front
        assert scorer is not None and front is not None
        if self._fault_delay_s:  # local runs only (PredictorSettings.local_fault_delay_ms)
            await asyncio.sleep(self._fault_delay_s)
        x = front.encode(parsed)
        t = time.perf_counter()
        out = self._outputs(scorer, x, explain=True)
        front.metrics.stage("predict", time.perf_counter() - t)
        if self._events is not None:  # the payload events of this call (PII-free V2 bodies)
            self._events.emit(x, parsed.lead_keys, out)
        return front.respond(parsed, out)

    async def answer(self, headers: Mapping[str, str], peer: str, stream: AsyncIterator[bytes]) -> Reply:
        """One ``/score-lead`` call (:func:`leadscore_front.route.score_lead`, scored in process); header names
        lower-case."""
        front = self._front if self._config is not None and self._config.crm_endpoint else None
        return await handle_score_lead(front, headers, peer, stream, self._score_in_process, metrics=self._metrics)

    @staticmethod
    def _serving_answer() -> fastpath.Answer | None:
        runtime = LeadScoringRuntime.serving
        return runtime.answer if runtime is not None else None

    @custom_handler(rest_path="/score-lead", rest_method="POST")
    async def score_lead(self, request: Request) -> Response:
        """``POST /score-lead`` through MLServer's REST stack; its first call installs
        :mod:`leadscore_predictor.fastpath`, which answers the next ones before the stack, identically."""
        fastpath.install(request.scope.get("app"), self._serving_answer)
        peer = request.client.host if request.client else ""
        return to_response(await self.answer(request.headers, peer, request.stream()))

    @custom_handler(rest_path="/score-lead/openapi.json", rest_method="GET")
    async def score_lead_openapi(self, request: Request) -> Response:
        """The OpenAPI document of ``/score-lead`` for this model's feature contract."""
        return Response(content=self._openapi, media_type=JSON)

    @custom_handler(rest_path="/metrics", rest_method="GET")
    async def metrics(self, request: Request) -> Response:
        """Prometheus metrics beside the CRM path (same registry as MLServer's metrics port)."""
        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
