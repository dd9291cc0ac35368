"""Settings of the predictor image (env prefix ``PREDICTOR_``)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from leadscore_front.settings import FrontSettings


class PredictorSettings(FrontSettings):
    """Predictor process and model settings; the CRM front fields are inherited (``PREDICTOR_AUTH_MODE``...)."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_", extra="ignore")

    model_uri: str = "/mnt/models"
    """Artifact directory when the model settings give no ``parameters.uri`` (KServe's storage-initializer
    path by default). A directory holding ``manifest.json`` or an MLflow model dir with
    ``artifacts/leadscore/manifest.json``."""
    model_version: str = ""
    """Registry version reported in responses; empty: the model settings' ``parameters.version``, then the
    artifact provenance, then ``unversioned``."""
    nthread: int = Field(default=1, ge=1)
    """XGBoost threads per prediction (1: one request per core scales better than intra-op threads)."""
    reasons: Literal["exact", "approx"] | None = None
    """Override of the reason-code attribution; unset (the default): the artifact manifest's
    ``attribution``, which the pyfunc and batch scoring use too, so every path gives the same reasons.
    ``approx``: path attributions (Saabas; the numbers of XGBoost's ``approx_contribs``), computed for
    request-sized batches by the compiled numpy ensemble, ~60 us per lead on 200 depth-6 trees. ``exact``:
    XGBoost's TreeSHAP, ~1.5 ms per lead on the same model (docs/benchmarks.md). Both sum with the base
    value to the margin."""
    gc_freeze: bool = True
    """After a model load, move every object alive (MLServer, the libraries, the model) to the garbage
    collector's permanent generation (``gc.freeze()``): the full collections that requests' short-lived
    objects trigger then scan only what was allocated since, not the whole startup heap."""
    crm_endpoint: bool = True
    """Serve ``POST /score-lead`` (and ``/metrics``) on the MLServer HTTP port as custom handlers."""
    host: str = "127.0.0.1"
    """Bind address of ``python -m leadscore_predictor`` (``0.0.0.0`` in a container)."""
    http_port: int = 8080
    """HTTP port (V2 REST, ``/score-lead``, ``/metrics``)."""
    grpc_port: int = 8081
    """V2 gRPC port (MLServer always starts it)."""
    metrics_port: int = 8082
    """MLServer's own metrics server port (the same registry as ``/metrics`` on the HTTP port)."""
    local_fault_delay_ms: int = Field(default=0, ge=0, le=10_000)
    """LOCAL RUNS ONLY: delay every ``/score-lead`` answer by this many milliseconds, so the local canary
    loop (``leadscore canary local --fault latency``, ``make up CANARY_FAULT=latency``) can show a slow
    candidate being rolled back. Refused inside Kubernetes (``KUBERNETES_SERVICE_HOST`` set)."""

    @model_validator(mode="after")
    def _fault_only_locally(self) -> PredictorSettings:
        if self.local_fault_delay_ms and os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise ValueError(
                "local_fault_delay_ms: fault injection is for local runs only and is refused in a cluster "
                "(KUBERNETES_SERVICE_HOST is set); unset PREDICTOR_LOCAL_FAULT_DELAY_MS"
            )
        return self
