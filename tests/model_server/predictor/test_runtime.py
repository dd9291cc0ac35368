"""LeadScoringRuntime as MLServer drives it: load -> ready, V2 predict, metadata, failed load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from mlserver.errors import InferenceError
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest, Parameters, RequestInput

from leadscore_core.artifact import LeadScorer
from leadscore_core.testkit import sample_lead
from leadscore_core.validation import check_record
from leadscore_predictor.runtime import LeadScoringRuntime, ModelLoadError


def runtime(uri: str, version: str | None = "12") -> LeadScoringRuntime:
    settings = ModelSettings(
        name="lead-scoring", implementation=LeadScoringRuntime, parameters=ModelParameters(uri=uri, version=version)
    )
    return LeadScoringRuntime(settings)


@pytest.fixture(scope="module")
def loaded(artifact: Path) -> LeadScoringRuntime:
    rt = runtime(str(artifact))
    assert asyncio.run(rt.load()) is True
    return rt


def encoded(artifact: Path, n: int) -> np.ndarray:
    s = LeadScorer(artifact).load()
    leads = [check_record(s.spec, sample_lead(seed=i)).values for i in range(n)]
    return s.encoder.encode_records(leads)  # type: ignore[union-attr]


def test_predict_answers_the_wire_contract(loaded: LeadScoringRuntime, artifact: Path) -> None:
    x = encoded(artifact, 3)
    x[0, 0] = np.nan
    req = InferenceRequest(
        inputs=[RequestInput(name="features", shape=list(x.shape), datatype="FP32", data=x.ravel().tolist())],
        parameters=Parameters(explain=True),
    )
    res = asyncio.run(loaded.predict(req))
    out = {o.name: o for o in res.outputs}
    assert set(out) == {"probability", "margin", "tier", "contributions"}
    assert res.parameters is not None and res.parameters.model_extra["model_version"] == "12"
    contrib = np.asarray(out["contributions"].data.root).reshape(out["contributions"].shape)
    np.testing.assert_allclose(contrib.sum(1), out["margin"].data.root, atol=1e-4)
    probs = np.asarray(out["probability"].data.root)
    assert ((probs >= 0) & (probs <= 1)).all() and len(out["tier"].data.root) == 3


def test_predict_without_explain_has_no_contributions(loaded: LeadScoringRuntime, artifact: Path) -> None:
    x = encoded(artifact, 1)
    req = InferenceRequest(
        inputs=[RequestInput(name="features", shape=list(x.shape), datatype="FP32", data=x.ravel().tolist())]
    )
    assert {o.name for o in asyncio.run(loaded.predict(req)).outputs} == {"probability", "margin", "tier"}


@pytest.mark.parametrize(
    "inp",
    [
        RequestInput(name="features", shape=[1, 2], datatype="FP32", data=[1.0, 2.0]),
        RequestInput(name="other", shape=[1, 1], datatype="FP32", data=[1.0]),
    ],
)
def test_predict_refuses_bad_tensors(loaded: LeadScoringRuntime, inp: RequestInput) -> None:
    with pytest.raises(InferenceError):
        asyncio.run(loaded.predict(InferenceRequest(inputs=[inp])))


def test_metadata_publishes_the_contract(loaded: LeadScoringRuntime) -> None:
    meta = asyncio.run(loaded.metadata())
    extra = meta.parameters.model_extra  # type: ignore[union-attr]
    assert '"crm_freezone"' in extra["leadscore_spec"] and extra["top_k_reasons"] == 3


def test_failed_load_raises_so_mlserver_fails_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rt = runtime(str(tmp_path / "nothing"))
    with pytest.raises(ModelLoadError, match="not a leadscore model"):
        asyncio.run(rt.load())
    assert not rt.ready and LeadScoringRuntime.load_error is not None
    assert "NOT loaded" in caplog.text and "not a leadscore model" in caplog.text


def test_version_falls_back_to_the_artifact(artifact: Path) -> None:
    rt = runtime(str(artifact), version=None)
    assert asyncio.run(rt.load())
    assert rt._version == "7"


def test_shipped_mlserver_logging_file_is_the_core_setup() -> None:
    """``mlserver start`` in the cluster reads logging.json (MLSERVER_LOGGING_SETTINGS): the same JSON lines."""
    import json
    import logging
    import logging.config

    import leadscore_predictor
    from leadscore_core.logs import logging_config

    path = Path(leadscore_predictor.__file__).parent / "logging.json"
    config = json.loads(path.read_text())
    assert config == logging_config("predictor")
    logging.config.dictConfig(config)
    try:
        handler = logging.getLogger("mlserver").handlers[0]
        record = logging.LogRecord("mlserver", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
        line = json.loads(handler.format(record))
        assert line["level"] == "ERROR" and line["message"] == "boom x" and line["ts"].endswith("Z")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
