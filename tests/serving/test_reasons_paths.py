"""The same leads get the same reasons online (/score-lead on the real predictor) and from the MLflow pyfunc.

Both paths call :func:`leadscore_core.reasons.reasons` on contributions computed with the attribution the
artifact manifest records; the test runs both attributions and several batch shapes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import mlflow.pyfunc
import pandas as pd
import pytest

from leadscore.local.serve import free_port, start_predictor, stop_group, wait_ready
from leadscore_core.artifact import MANIFEST, Manifest
from leadscore_core.testkit import sample_lead
from training.pyfunc import ARTIFACT_KEY, LeadScoringModel


def _with_attribution(artifact: Path, dst: Path, attribution: str) -> Path:
    shutil.copytree(artifact, dst)
    manifest = Manifest.model_validate_json((dst / MANIFEST).read_text())
    (dst / MANIFEST).write_text(manifest.model_copy(update={"attribution": attribution}).model_dump_json())
    return dst


@pytest.mark.parametrize("attribution", ["approx", "exact"])
def test_endpoint_and_pyfunc_give_identical_reasons(
    artifact: Path, logs: Path, tmp_path: Path, attribution: str
) -> None:
    model_dir = _with_attribution(artifact, tmp_path / "leadscore", attribution)
    mlflow.pyfunc.save_model(
        str(tmp_path / "pyfunc"), python_model=LeadScoringModel(), artifacts={ARTIFACT_KEY: str(model_dir)}
    )
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc"))
    spec = Manifest.model_validate_json((model_dir / MANIFEST).read_text()).spec
    batches = [
        [sample_lead(lead_id="L-single", seed=11)],
        [sample_lead(lead_id=f"L-{s}", seed=s) for s in range(20, 27)],
        [sample_lead(lead_id=f"M-{s}", seed=s) for s in range(100, 140)],
    ]
    proc = start_predictor(
        model_dir, free_port(), logs / f"reasons-{attribution}.log", extra_env={"PREDICTOR_RATE_LIMIT": ""}
    )
    try:
        wait_ready(proc)
        base = proc.ready_url.split("/v2/", 1)[0]
        for leads in batches:
            r = httpx.post(f"{base}/score-lead", json=leads, timeout=30.0)
            assert r.status_code == 200, r.text
            online = {res["lead_id"]: res for res in r.json()}
            columns = sorted(set().union(*leads) | set(spec.feature_names))  # a missing value is a NaN cell
            batch = pyfunc.predict(pd.DataFrame(leads, columns=columns))
            assert list(batch["lead_id"]) == [lead["lead_id"] for lead in leads]
            for lead_id, reasons_json, prob in zip(
                batch["lead_id"], batch["reasons"], batch["probability"], strict=True
            ):
                offline = json.loads(reasons_json)
                assert offline == online[lead_id]["reasons"], lead_id
                assert len(offline) == 3 and round(prob, 6) == online[lead_id]["probability"]
    finally:
        stop_group(proc.pid)
