"""Unit tests of the MLServer runtime; they run in the predictor image env
(``model_server/predictor/.venv/bin/python -m pytest tests/model_server/predictor``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

if importlib.util.find_spec("leadscore_predictor") is None:
    collect_ignore_glob = ["test_*.py"]  # another env
else:
    from leadscore_core.testkit import make_artifact

    @pytest.fixture(scope="session")
    def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return make_artifact(tmp_path_factory.mktemp("model") / "leadscore", n=600)
