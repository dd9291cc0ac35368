"""Tiny real leadscore artifacts for serving tests, written with ``leadscore_core.reference.save_artifact``.

Needs numpy, xgboost and leadscore_core only (root env and predictor env both have them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from leadscore_core.artifact import Calibrator, Manifest
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.reference import build_drift_reference, reference_sample, save_artifact

TIERS = {"A": 0.6, "B": 0.35, "C": 0.15}


def random_leads(spec: FeatureSpec, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Clean feature values (as the contract allows them), about 5% missing."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for f in spec.features:
        for r in rows:
            if rng.random() < 0.05 and f.missing != "reject":
                r[f.name] = None
            elif f.type == "categorical":
                assert f.categories is not None
                r[f.name] = f.categories[int(rng.integers(len(f.categories)))]
            elif f.type == "boolean":
                r[f.name] = bool(rng.random() < 0.4)
            elif f.type == "numeric":
                hi = min(f.max if f.max is not None else 100.0, 100.0)
                lo = f.min if f.min is not None else 0.0
                r[f.name] = round(float(rng.uniform(lo, hi)), 2)
            else:
                r[f.name] = "x" * int(rng.integers(1, 20))
    return rows


def make_artifact(
    path: Path, spec_name: str = "crm_freezone", n: int = 2000, version: str = "7", rounds: int = 30, depth: int = 3
) -> Path:
    """Train a small XGBoost model on random leads and save a complete artifact at ``path``."""
    spec = load_spec(spec_name)
    enc = FeatureEncoder(spec)
    rows = random_leads(spec, n)
    x = enc.encode_records(rows)
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, x.shape[1])
    logits = np.nan_to_num(x, nan=0.0) @ w / np.sqrt(x.shape[1]) * 3 - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "nthread": 1, "tree_method": "hist"},
        xgb.DMatrix(x, label=y),
        num_boost_round=rounds,
    )
    raw = booster.predict(xgb.DMatrix(x))
    cal = Calibrator(x=[0.0, 0.5, 1.0], y=[0.0, 0.45, 1.0])
    manifest = Manifest(
        model_name="lead-scoring",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        calibrator=cal,
        tier_cutoffs=TIERS,
        top_k_reasons=spec.scoring.top_k_reasons,
        provenance={"model_version": version, "run_id": "test"},
        metrics={"auc": 0.8},
    )
    columns = {f.name: [r[f.name] for r in rows] for f in spec.features}
    ref = build_drift_reference(spec, columns, scores=cal(raw))
    sample = reference_sample(spec, columns, size=500)
    return save_artifact(path, manifest, booster, ref, sample)


def sample_lead(spec_name: str = "crm_freezone", lead_id: str = "L-1", seed: int = 3) -> dict[str, Any]:
    """One CRM request body: id, PII and every feature (no missing values)."""
    spec = load_spec(spec_name)
    row = random_leads(spec, 1, seed)[0]
    row = {k: v for k, v in row.items() if v is not None}
    lead: dict[str, Any] = {spec.id_column: lead_id}
    pii = {"full_name": "Jane Roe", "email": "jane.roe@example.com", "phone": "+971500000000"}
    lead.update({k: v for k, v in pii.items() if k in spec.pii_fields})
    lead.update(row)
    return lead
