"""A small real model artifact trained on a directory written by ``leadscore data generate``.

The replay tests need a drift reference from the same generator, without depending on a registry
champion: features are the CRM requests cleaned by the contract, labels are drawn from the
generator's ground-truth probabilities, the artifact is written by ``leadscore_core.reference``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import xgboost as xgb

from leadscore_core.artifact import Manifest
from leadscore_core.contract import load_spec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.reference import build_drift_reference, reference_sample, save_artifact
from leadscore_core.validation import check_record


def build(raw_dir: Path, out: Path, seed: int = 0, version: str = "1") -> Path:
    spec = load_spec("crm_freezone")
    truth = {}
    with (raw_dir / "ground_truth.csv").open() as fh:
        for row in csv.DictReader(fh):
            truth[row["lead_id"]] = float(row["true_probability"])
    records, probs = [], []
    for line in (raw_dir / "score_requests.jsonl").read_text().splitlines():
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        rec = check_record(spec, raw)
        if rec.ok and raw.get("lead_id") in truth:
            records.append(rec.values)
            probs.append(truth[raw["lead_id"]])
    rng = np.random.default_rng(seed)
    y = (rng.random(len(probs)) < np.asarray(probs)).astype(int)
    enc = FeatureEncoder(spec)
    x = enc.encode_records(records)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.2, "nthread": 1, "seed": seed},
        xgb.DMatrix(x, label=y),
        num_boost_round=40,
    )
    prob = booster.predict(xgb.DMatrix(x))
    cols = {f.name: [r[f.name] for r in records] for f in spec.features}
    manifest = Manifest(
        model_name="lead-scoring",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        tier_cutoffs={t: float(np.quantile(prob, q)) for t, q in spec.scoring.tiers.items()},
        provenance={"model_version": version, "trained_on": str(raw_dir)},
    )
    return save_artifact(out, manifest, booster, build_drift_reference(spec, cols, prob), reference_sample(spec, cols))
