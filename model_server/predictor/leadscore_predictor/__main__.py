"""``python -m leadscore_predictor``: MLServer with the leadscore runtime, configured from ``PREDICTOR_*``.

Equivalent to ``mlserver start`` with a settings.json/model-settings.json pair, tuned for one core:
``parallel_workers=0`` (no worker IPC), ``debug=false`` (no access log line per request), httptools
installed. In KServe the ServingRuntime runs ``mlserver start /mnt/models`` with the same settings as
``MLSERVER_*`` variables.
"""

from __future__ import annotations

import asyncio

from mlserver import MLServer
from mlserver.settings import ModelParameters, ModelSettings, Settings
from mlserver.utils import install_uvloop_event_loop

from leadscore_predictor.runtime import LeadScoringRuntime
from leadscore_predictor.settings import PredictorSettings


def build(settings: PredictorSettings) -> tuple[MLServer, ModelSettings]:
    """The MLServer instance and the model settings it loads."""
    server_settings = Settings(
        host=settings.host,
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        parallel_workers=0,
        debug=False,
        load_models_at_startup=False,
        model_repository_root=".",
    )
    model_settings = ModelSettings(
        name=settings.model_name,
        implementation=LeadScoringRuntime,
        parameters=ModelParameters(uri=settings.model_uri, version=settings.model_version or None),
    )
    return MLServer(server_settings), model_settings


def main() -> None:
    settings = PredictorSettings()
    server, model_settings = build(settings)
    install_uvloop_event_loop()
    asyncio.run(server.start([model_settings]))


if __name__ == "__main__":
    main()
