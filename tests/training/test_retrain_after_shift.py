"""The promotion gate against the generator's drift kinds, at small size, in-process (no Spark).

A champion trained on six months of leads; then six later months arrive with a drift, gold holds both and
the retrain's holdout (the latest 20 %) lies inside the new months. Under a covariate-only shift
(``source_mix``: P(y | x) unchanged) the retrain cannot beat the champion by the gate's margin; when the
lead mix AND how leads convert move (``source_mix+concept``, what ``make up`` replays) the champion loses
AUC on the new months and the retrain, which trained on part of them, passes the gate honestly.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leadscore.datagen.frames import Frame, clean_frame
from leadscore_core.contract import load_spec
from leadscore_core.settings import HomeSettings
from training.testkit import fast_settings, write_gold
from training.train import TrainRequest, train

BASE_ROWS, SHIFT_ROWS = 3000, 3000
"""Holdout = latest 20 % of 6000 = 1200 leads, all in the new months; 1800 new leads are in training."""


def _gold(frame: Frame, prefix: str) -> pd.DataFrame:
    ts = pd.to_datetime(frame.created_s, unit="s", utc=True)
    out = pd.DataFrame({"lead_id": [f"{prefix}-{i:06d}" for i in range(frame.n)], "event_ts": ts})
    for name, values in frame.columns.items():
        out[name] = values
    out["label"] = frame.converted.astype(np.int64)
    out["label_ts"] = out["event_ts"].where(frame.converted) + pd.Timedelta(days=3)
    out["_batch_id"] = f"batch-{prefix}"
    return out


def _train(home: Path, lake: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    return train(TrainRequest(lake=lake), fast_settings(trials=4), HomeSettings(home=home))


@pytest.mark.parametrize("seed", [21, 34])
def test_only_a_shift_in_how_leads_convert_lets_the_retrain_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = load_spec("crm_freezone")
    base = _gold(clean_frame(spec, seed, BASE_ROWS), f"B{seed}")
    write_gold(tmp_path / "lake", base)
    first = _train(tmp_path / "home", tmp_path / "lake", monkeypatch)
    assert first["gate"]["decision"] == "bootstrap"

    gates: dict[str, dict[str, Any]] = {}
    for kind in ("source_mix", "source_mix+concept"):
        later = clean_frame(spec, seed + 1, SHIFT_ROWS, drift=kind, strength=1.0, start="2026-07-01")
        home, lake = tmp_path / kind / "home", tmp_path / kind / "lake"
        shutil.copytree(tmp_path / "home", home)  # the same champion for both kinds
        write_gold(lake, pd.concat([base, _gold(later, f"S{seed}")], ignore_index=True))
        result = _train(home, lake, monkeypatch)
        gates[kind] = {**result["gate"], "auc": result["metrics"]["auc"]}

    covariate, concept = gates["source_mix"], gates["source_mix+concept"]
    assert covariate["decision"] == "rejected", covariate["reason"]
    assert covariate["auc"] - covariate["champion_auc"] < 0.02
    assert concept["decision"] == "promoted", concept["reason"]
    assert concept["auc"] - concept["champion_auc"] >= 0.02
    # the champion itself scores the new regime worse than the old-regime one
    assert concept["champion_auc"] < covariate["champion_auc"]
