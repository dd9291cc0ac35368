"""``python -m leadscore_transformer [--predictor_host H:P] [--http_port N] [--model_name M]``.

Builds settings (``TRANSFORMER_*`` env, then the arguments KServe passes), loads the transformer (waits for
the predictor's feature contract), mounts ``/score-lead`` on kserve's app and serves it with uvicorn
(uvloop + httptools, no access log, no latency log).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from leadscore_core.logs import setup_logging
from leadscore_transformer.settings import TransformerSettings


def parse_args(settings: TransformerSettings, argv: list[str] | None = None) -> TransformerSettings:
    """Apply the arguments KServe gives a transformer container on top of the env settings."""
    p = argparse.ArgumentParser(prog="leadscore_transformer", add_help=True)
    p.add_argument("--predictor_host", default=None)
    p.add_argument("--http_port", type=int, default=None)
    p.add_argument("--model_name", default=None)
    ns, _ = p.parse_known_args(argv)
    update = {k: v for k, v in vars(ns).items() if v is not None}
    return settings.model_copy(update=update)


def main() -> None:
    setup_logging("transformer")  # before kserve's import: it then keeps our handlers
    settings = parse_args(TransformerSettings())
    # kserve parses sys.argv and builds its FastAPI app when imported: import it only now
    from kserve import ModelServer
    from kserve.model_server import app
    from kserve.predictor_config import PredictorConfig
    from kserve.protocol.rest.server import RESTServer

    from leadscore_transformer.app import add_crm_routes
    from leadscore_transformer.transformer import LeadTransformer

    host = settings.predictor_host
    url = host if host.startswith(("http://", "https://")) else f"http://{host}"
    model = LeadTransformer(settings, url, settings.load_timeout_seconds)
    if not model.load():
        logging.getLogger("leadscore.transformer").error("transformer NOT started: no feature contract from %s", url)
        raise SystemExit(1)
    server = ModelServer(
        http_port=settings.http_port,
        enable_grpc=False,
        enable_docs_url=False,
        enable_latency_logging=False,
        predictor_config=PredictorConfig(
            predictor_host=url.split("://", 1)[1],
            predictor_protocol="v2",
            predictor_use_ssl=url.startswith("https://"),
            predictor_request_timeout_seconds=int(settings.predictor_timeout_seconds),
            predictor_request_retries=0,
            predictor_health_check=False,
        ),
    )
    server.register_model(model)
    add_crm_routes(app, model)
    logging.getLogger("uvicorn.access").disabled = not settings.access_log
    logging.getLogger("kserve.trace").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rest = RESTServer(
        "kserve.model_server:app",
        server.dataplane,
        server.model_repository_extension,
        settings.http_port,
        workers=1,
        event_loop="uvloop",
    )
    rest.config.host = settings.host  # kserve binds 0.0.0.0; locally we stay on the loopback
    asyncio.run(rest.start())


if __name__ == "__main__":
    main()
