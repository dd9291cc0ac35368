"""Unit tests of the MLServer runtime; they run in the predictor image env
(``model_server/predictor/.venv/bin/python -m pytest tests/model_server/predictor``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("leadscore_predictor") is None:
    collect_ignore_glob = ["test_*.py"]  # another env
else:
    # tiny real artifacts (save_artifact), shared with the serving integration tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "serving"))
    from tiny_model import make_artifact

    @pytest.fixture(scope="session")
    def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return make_artifact(tmp_path_factory.mktemp("model") / "leadscore", n=600)
