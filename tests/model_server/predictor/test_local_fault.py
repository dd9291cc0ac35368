"""The local-only fault switch of the predictor (``PREDICTOR_LOCAL_FAULT_DELAY_MS``): it slows every
/score-lead answer by the configured delay, is off by default and is refused inside Kubernetes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from mlserver.settings import ModelParameters, ModelSettings
from pydantic import ValidationError

from leadscore_core.testkit import sample_lead
from leadscore_predictor.runtime import LeadScoringRuntime
from leadscore_predictor.settings import PredictorSettings


def test_off_by_default_and_refused_in_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert PredictorSettings().local_fault_delay_ms == 0
    monkeypatch.setenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", "250")
    assert PredictorSettings().local_fault_delay_ms == 250
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(ValidationError, match="local_fault_delay_ms: fault injection is for local runs only"):
        PredictorSettings()
    monkeypatch.setenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", "0")
    assert PredictorSettings().local_fault_delay_ms == 0  # the default is fine anywhere
    monkeypatch.setenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", "-5")
    with pytest.raises(ValidationError):
        PredictorSettings()


def _seconds_per_call(artifact: Path, leads: int) -> float:
    rt = LeadScoringRuntime(
        ModelSettings(
            name="lead-scoring", implementation=LeadScoringRuntime, parameters=ModelParameters(uri=str(artifact))
        )
    )
    assert asyncio.run(rt.load())
    front = rt._front
    assert front is not None
    body = orjson.dumps([sample_lead(lead_id=f"L-{i}", seed=i) for i in range(leads)])
    parsed = front.parse(body, "req-1")
    start = time.perf_counter()
    results = asyncio.run(rt._score_in_process(parsed))
    assert len(results) == leads
    return time.perf_counter() - start


@pytest.mark.parametrize(("delay_ms", "leads"), [(200, 1), (350, 5)])
def test_the_delay_slows_each_answer(
    artifact: Path, monkeypatch: pytest.MonkeyPatch, delay_ms: int, leads: int
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", "0")
    fast = _seconds_per_call(artifact, leads)
    monkeypatch.setenv("PREDICTOR_LOCAL_FAULT_DELAY_MS", str(delay_ms))
    slow = _seconds_per_call(artifact, leads)
    assert slow >= delay_ms / 1000 and slow - fast >= 0.9 * delay_ms / 1000
