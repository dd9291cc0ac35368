"""The custom MLServer runtime: V2 ``infer`` plus the CRM ``/score-lead`` custom handler."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import orjson
from fastapi import Request, Response
from mlserver import MLModel
from mlserver.errors import InferenceError, ModelNotReady
from mlserver.handlers import custom_handler
from mlserver.types import InferenceRequest, InferenceResponse, MetadataModelResponse, Parameters, ResponseOutput
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from leadscore_core.artifact import LeadScorer, artifact_version
from leadscore_core.events import V2_INPUT
from leadscore_front.errors import FieldIssue, RequestError
from leadscore_front.front import JSON, ParsedLeads, Reply, ScoringFront, read_limited
from leadscore_front.metrics import FrontMetrics
from leadscore_front.openapi import openapi_document
from leadscore_front.wire import EXPLAIN, MANIFEST_SPEC, MODEL_VERSION, TOP_K, ScoreOutputs
from leadscore_predictor.artifact_dir import resolve_artifact_dir
from leadscore_predictor.settings import PredictorSettings

log = logging.getLogger("leadscore.predictor")


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in {"1", "true", "yes"})


def to_response(reply: Reply) -> Response:
    return Response(content=reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers)


def error_response(exc: RequestError) -> Response:
    return Response(content=orjson.dumps(exc.body()), status_code=exc.status, media_type=JSON, headers=exc.headers)


class LeadScoringRuntime(MLModel):
    """Loads a leadscore artifact; ready only after a successful load (a failure is logged, stays not ready)."""

    _scorer: LeadScorer | None = None
    _front: ScoringFront | None = None
    _config: PredictorSettings | None = None
    _version: str = "unversioned"
    _openapi: bytes = b"{}"
    _approx: bool = False

    async def load(self) -> bool:
        settings = PredictorSettings()
        self._config = settings
        params = self.settings.parameters
        uri = (params.uri if params and params.uri else None) or settings.model_uri
        try:
            path = resolve_artifact_dir(uri)
            scorer = LeadScorer(path).load(nthread=settings.nthread)
            manifest = scorer.manifest
            assert manifest is not None
            version = (
                settings.model_version
                or (params.version if params and params.version else "")
                or artifact_version(path, manifest, default="unversioned")
            )
            metrics = FrontMetrics.shared(REGISTRY, settings.revision)
            front = ScoringFront(manifest.spec, settings, metrics, top_k=manifest.top_k_reasons)
            self._openapi = orjson.dumps(openapi_document(front))
        except Exception as exc:  # keep serving health/metrics, not ready, with the reason in the log
            log.error("model %r NOT loaded from %s: %s: %s", self.name, uri, type(exc).__name__, exc)
            return False
        self._scorer, self._front, self._version = scorer, front, version
        self._approx = settings.reasons == "approx"
        metrics.set_model(manifest.model_name, version, manifest.spec.name, manifest.spec_fingerprint)
        log.info("model %r version %s loaded from %s (spec %s)", self.name, version, path, manifest.spec.name)
        return True

    # -- V2 ---------------------------------------------------------------------------------------
    async def metadata(self) -> MetadataModelResponse:
        """V2 model metadata plus the feature contract, so a transformer needs no copy of the artifact."""
        meta = await super().metadata()
        scorer = self._scorer
        if scorer is not None and scorer.manifest is not None:
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
        x = self._decode(payload, scorer.encoder.n_columns)
        explain = _truthy((payload.parameters.model_extra or {}).get(EXPLAIN)) if payload.parameters else False
        batch = scorer.score(x, explain=explain, approx=self._approx)
        n = x.shape[0]
        outputs = [
            ResponseOutput(name="probability", shape=[n], datatype="FP64", data=batch.probability.tolist()),
            ResponseOutput(name="margin", shape=[n], datatype="FP64", data=batch.margin.tolist()),
            ResponseOutput(name="tier", shape=[n], datatype="BYTES", data=batch.tier),
        ]
        if explain and batch.contributions is not None:
            full = np.hstack([batch.contributions, np.full((n, 1), batch.base_value)])
            outputs.append(
                ResponseOutput(
                    name="contributions", shape=list(full.shape), datatype="FP64", data=full.ravel().tolist()
                )
            )
        return InferenceResponse(
            id=payload.id,
            model_name=self.name,
            model_version=self._version,
            outputs=outputs,
            parameters=Parameters(**{MODEL_VERSION: self._version}),
        )

    @staticmethod
    def _decode(payload: InferenceRequest, n_columns: int) -> np.ndarray:
        inp = next((i for i in payload.inputs if i.name == V2_INPUT), None)
        if inp is None:
            raise InferenceError(f"input {V2_INPUT!r} is required (FP32 [n, {n_columns}])")
        if len(inp.shape) != 2 or inp.shape[1] != n_columns:
            raise InferenceError(f"input {V2_INPUT!r}: shape {inp.shape}, expected [n, {n_columns}]")
        data = inp.data.root if hasattr(inp.data, "root") else inp.data
        try:
            x = np.asarray(data, dtype=np.float32).reshape(inp.shape)
        except (TypeError, ValueError) as exc:
            raise InferenceError(f"input {V2_INPUT!r}: {exc}") from None
        if np.isinf(x).any():
            raise InferenceError(f"input {V2_INPUT!r}: infinite values (missing is null/NaN)")
        return x

    # -- CRM front (custom handlers on the V2 HTTP port) -------------------------------------------
    async def _score_in_process(self, parsed: ParsedLeads) -> list[dict[str, Any]]:
        scorer, front = self._scorer, self._front
        assert scorer is not None and front is not None
        x = front.encode(parsed)
        t = time.perf_counter()
        batch = scorer.score(x, explain=True, approx=self._approx)
        front.metrics.stage("predict", time.perf_counter() - t)
        assert batch.contributions is not None
        out = ScoreOutputs(
            probability=batch.probability,
            margin=batch.margin,
            tier=batch.tier,
            contributions=batch.contributions,
            base_value=np.full(len(batch.margin), batch.base_value),
            model_name=self.name,
            model_version=self._version,
        )
        return front.respond(parsed, out)

    @custom_handler(rest_path="/score-lead", rest_method="POST")
    async def score_lead(self, request: Request) -> Response:
        """``POST /score-lead``: validate, encode, score in process, reason codes (see the OpenAPI)."""
        front = self._front
        if front is None or self._config is None or not self._config.crm_endpoint:
            err = RequestError(503, "model not available", [FieldIssue("model", "not loaded")], {"retry-after": "1"})
            return error_response(err)
        try:
            front.check_length(request.headers.get("content-length"))
            body = await read_limited(request.stream(), front.settings.max_body_bytes)
        except RequestError as exc:
            return error_response(exc)
        if body is None:
            return error_response(front.too_large())
        peer = request.client.host if request.client else ""
        reply = await front.handle(body, request.headers, peer, self._score_in_process)
        return to_response(reply)

    @custom_handler(rest_path="/score-lead/openapi.json", rest_method="GET")
    async def score_lead_openapi(self, request: Request) -> Response:
        """The OpenAPI document of ``/score-lead`` for this model's feature contract."""
        return Response(content=self._openapi, media_type=JSON)

    @custom_handler(rest_path="/metrics", rest_method="GET")
    async def metrics(self, request: Request) -> Response:
        """Prometheus metrics beside the CRM path (same registry as MLServer's metrics port)."""
        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
