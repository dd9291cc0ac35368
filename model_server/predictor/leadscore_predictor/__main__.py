"""``python -m leadscore_predictor``: MLServer with the leadscore runtime, configured from ``PREDICTOR_*``.

Equivalent to ``mlserver start`` with a settings.json/model-settings.json pair, tuned for one core:
``parallel_workers=0`` (no worker IPC), ``debug=false`` (no access log line per request), httptools
installed. In KServe the ServingRuntime runs ``mlserver start /mnt/models`` with the same settings as
``MLSERVER_*`` variables.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlserver import MLServer
from mlserver.settings import ModelParameters, ModelSettings, Settings
from mlserver.utils import install_uvloop_event_loop

from leadscore_core.logs import setup_logging
from leadscore_predictor.runtime import LeadScoringRuntime
from leadscore_predictor.settings import PredictorSettings


def build(settings: PredictorSettings, logging_config: dict[str, Any] | None = None) -> tuple[MLServer, ModelSettings]:
    """The MLServer instance and the model settings it loads (``logging_config``: the JSON-lines setup that
    MLServer and its uvicorn apply to their own loggers)."""
    server_settings = Settings(
        host=settings.host,
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        parallel_workers=0,
        debug=False,
        load_models_at_startup=False,
        model_repository_root=".",
        logging_settings=logging_config,
    )
    model_settings = ModelSettings(
        name=settings.model_name,
        implementation=LeadScoringRuntime,
        parameters=ModelParameters(uri=settings.model_uri, version=settings.model_version or None),
    )
    return MLServer(server_settings), model_settings


def main() -> None:
    config = setup_logging("predictor")
    settings = PredictorSettings()
    server, model_settings = build(settings, config)
    install_uvloop_event_loop()
    try:
        asyncio.run(server.start([model_settings]))
    except (KeyboardInterrupt, RuntimeError):
        # uvicorn re-raises the stop signal MLServer used when it stopped itself after the failed load, and
        # uvloop may then refuse to close the loop it still runs ("Cannot close a running event loop"):
        # the load error (already logged at ERROR) is the reason, not this teardown
        if LeadScoringRuntime.load_error is None:
            raise
    # MLServer returns from start() after a signal, or after stopping itself because the load failed
    if LeadScoringRuntime.load_error is not None:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
