"""A small real model artifact trained on a directory written by ``leadscore data generate``.

The replay tests need a drift reference from the same generator, without depending on a registry
champion: features are the CRM requests cleaned by the contract, labels are drawn from the
generator's ground-truth probabilities, the artifact is written by :func:`leadscore_core.testkit.build_artifact`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from leadscore_core.contract import load_spec
from leadscore_core.testkit import build_artifact
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
    return build_artifact(
        out,
        spec,
        records,
        y,
        version=version,
        seed=seed,
        rounds=40,
        eta=0.2,
        sample_size=5000,
        provenance={"trained_on": str(raw_dir)},
    )
