"""Real serving processes for the integration tests (root env): MLServer predictor + kserve transformer.

They run from their own image venvs (``uv sync`` in model_server/predictor and model_server/transformer),
on free ports on 127.0.0.1, as process groups that are always killed at teardown.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("training") is None or importlib.util.find_spec("xgboost") is None:
    collect_ignore_glob = ["test_*.py"]  # not the root env
else:
    from leadscore.local.serve import Proc, free_port, start_predictor, start_transformer, stop_group, wait_ready
    from leadscore_core.testkit import make_artifact

    @pytest.fixture(scope="session")
    def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return make_artifact(tmp_path_factory.mktemp("model") / "leadscore")

    @pytest.fixture(scope="session")
    def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp("logs")

    @contextlib.contextmanager
    def running(proc: Proc) -> Iterator[tuple[str, Proc]]:
        """Wait until ``proc`` is ready, yield (base URL, proc), always kill its process group."""
        try:
            wait_ready(proc)
            yield proc.ready_url.split("/v2/", 1)[0], proc
        finally:
            stop_group(proc.pid)

    @pytest.fixture(scope="session")
    def predictor(artifact: Path, logs: Path) -> Iterator[tuple[str, Proc]]:
        """The predictor with its ``/score-lead`` custom handler (merged design); no rate limit."""
        port = free_port()
        env = {"PREDICTOR_RATE_LIMIT": ""}
        with running(start_predictor(artifact, port, logs / "predictor.log", extra_env=env)) as served:
            yield served

    @pytest.fixture(scope="session")
    def transformer(predictor: tuple[str, Proc], logs: Path) -> Iterator[tuple[str, Proc]]:
        """The kserve transformer in front of the predictor (the cluster design)."""
        pport = int(predictor[0].rsplit(":", 1)[1])
        port = free_port()
        env = {"TRANSFORMER_RATE_LIMIT": ""}
        with running(start_transformer(pport, port, logs / "transformer.log", extra_env=env)) as served:
            yield served

    @pytest.fixture(params=["transformer", "merged"])
    def crm_url(request: pytest.FixtureRequest) -> str:
        """Both CRM front doors: through the transformer hop, and the predictor's custom handler."""
        name = "transformer" if request.param == "transformer" else "predictor"
        return request.getfixturevalue(name)[0]

    @pytest.fixture(scope="session")
    def client_name() -> str:
        return f"crm-{uuid.uuid4().hex[:8]}"

    @pytest.fixture(scope="session")
    def secured(artifact: Path, logs: Path, client_name: str, redis_url: str) -> Iterator[tuple[str, Proc]]:
        """Predictor with API-key auth and a 5/minute per-client limit kept in the local Redis."""
        port = free_port()
        env = {
            "PREDICTOR_AUTH_MODE": "api_key",
            "PREDICTOR_API_KEYS": json.dumps({"s3cret-key": client_name}),
            "PREDICTOR_RATE_LIMIT": "5/minute",  # a minute window: deterministic on a slow box
            "PREDICTOR_RATE_LIMIT_STORAGE": redis_url,
        }
        with running(start_predictor(artifact, port, logs / "secured.log", extra_env=env)) as served:
            yield served

    @pytest.fixture(scope="session")
    def jwt_server(artifact: Path, predictor: tuple[str, Proc], logs: Path) -> Iterator[tuple[str, Proc]]:
        """Transformer with JWT (HS256, audience ``crm``) auth in front of the shared predictor."""
        pport = int(predictor[0].rsplit(":", 1)[1])
        port = free_port()
        env = {
            "TRANSFORMER_AUTH_MODE": "jwt",
            "TRANSFORMER_JWT_KEY": "jwt-test-secret-of-sufficient-length-32b",
            "TRANSFORMER_JWT_AUDIENCE": "crm",
            "TRANSFORMER_RATE_LIMIT": "",
        }
        with running(start_transformer(pport, port, logs / "jwt.log", extra_env=env)) as served:
            yield served
