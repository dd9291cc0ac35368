"""The predictor's V2 model metadata is enough for a stock Open Inference Protocol client (kserve's own)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leadscore_core.artifact import LeadScorer
from leadscore_core.testkit import sample_lead
from leadscore_core.validation import check_record

ROOT = Path(__file__).resolve().parents[2]
TRANSFORMER_PY = ROOT / "model_server" / "transformer" / ".venv" / "bin" / "python"
PROBE = Path(__file__).with_name("v2_client_probe.py")


@pytest.mark.parametrize("n", [1, 17])
def test_kserve_client_calls_the_predictor_from_its_metadata_alone(
    predictor: tuple[str, object], artifact: Path, tmp_path: Path, n: int
) -> None:
    scorer = LeadScorer(artifact).load()
    assert scorer.encoder is not None
    leads = [sample_lead(lead_id=f"K-{i}", seed=300 + n + i) for i in range(n)]
    x = scorer.encoder.encode_records([check_record(scorer.spec, lead).values for lead in leads])
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([[None if v != v else float(v) for v in row] for row in x.tolist()]))
    run = subprocess.run(
        [str(TRANSFORMER_PY), str(PROBE), predictor[0], "lead-scoring", str(rows)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    meta = got["metadata"]
    assert meta["versions"] == ["7"]
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, scorer.encoder.n_columns]}]
    declared = {t["name"]: t for t in meta["outputs"]}
    assert set(declared) == {"probability", "margin", "tier", "contributions"}
    assert declared["contributions"]["shape"] == [-1, len(scorer.spec.features) + 1]
    assert set(got["outputs"]) == {"probability", "margin", "tier"}  # contributions only with explain
    for name, out in got["outputs"].items():
        assert out["datatype"] == declared[name]["datatype"] and out["shape"] == [n]
    expected = scorer.score(x)
    np.testing.assert_allclose(got["outputs"]["probability"]["data"], expected.probability, atol=1e-9)
    assert got["outputs"]["tier"]["data"] == expected.tier
