"""Tiny real model artifacts and lead bodies for tests and benchmarks, in every env that scores (xgboost).

One builder for every test suite and bench: :func:`build_artifact` trains a small real XGBoost booster on
clean records and writes a complete artifact (manifest, booster, drift reference, reference sample) with
:func:`leadscore_core.reference.save_artifact`. :func:`random_leads`, :func:`make_artifact` and
:func:`sample_lead` are the generic generators on top of it; suites with their own data (monitors' drift
mixes, replay's generated files) pass their records and labels to :func:`build_artifact`.

Imports xgboost when called (the ``scoring`` extra), so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leadscore_core.artifact import Calibrator, Manifest, encoded_dmatrix
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.reasons import Attribution
from leadscore_core.reference import build_drift_reference, reference_sample, save_artifact

TIERS = {"A": 0.6, "B": 0.35, "C": 0.15}
"""Fixed tier cut-offs of :func:`make_artifact` (probability)."""


def build_artifact(
    path: Path,
    spec: FeatureSpec,
    records: Sequence[Mapping[str, Any]],
    labels: np.ndarray,
    *,
    version: str = "1",
    seed: int = 0,
    rounds: int = 30,
    depth: int = 3,
    eta: float = 0.3,
    calibrator: Calibrator | None = None,
    tier_cutoffs: Mapping[str, float] | None = None,
    attribution: Attribution = "approx",
    provenance: Mapping[str, Any] | None = None,
    sample_size: int = 500,
) -> Path:
    """Train on ``records`` (clean values) and ``labels`` and write a complete artifact at ``path``.

    ``spec`` may use ``encoding: native`` and learned vocabularies (filled in with
    :meth:`FeatureSpec.with_vocabularies`; the manifest records them).

    Tier cut-offs default to the spec's score quantiles of the training scores; ``provenance`` is merged
    over ``{"model_version": version}``.
    """
    import xgboost as xgb

    enc = FeatureEncoder(spec)
    x = enc.encode_records(records)
    dtrain = encoded_dmatrix(enc, x)
    dtrain.set_label(np.asarray(labels))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": eta, "nthread": 1, "seed": seed},
        dtrain,
        num_boost_round=rounds,
    )
    prob = 1 / (1 + np.exp(-booster.predict(encoded_dmatrix(enc, x), output_margin=True)))
    calibrator = calibrator or Calibrator()
    scores = calibrator(prob)
    cutoffs = (
        dict(tier_cutoffs)
        if tier_cutoffs is not None
        else {t: float(np.quantile(scores, q)) for t, q in spec.scoring.tiers.items()}
    )
    manifest = Manifest(
        model_name="lead-scoring",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        calibrator=calibrator,
        tier_cutoffs=cutoffs,
        top_k_reasons=spec.scoring.top_k_reasons,
        attribution=attribution,
        provenance={"model_version": version, **(provenance or {})},
        metrics={"auc": 0.8},
        vocabularies={f.name: list(f.vocabulary or []) for f in spec.features if f.learned},
    )
    cols = {f.name: [r[f.name] for r in records] for f in spec.features}
    ref = build_drift_reference(spec, cols, scores=scores)
    return save_artifact(path, manifest, booster, ref, reference_sample(spec, cols, size=sample_size, seed=seed))


def random_leads(spec: FeatureSpec, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Clean feature values (as the contract allows them), about 5% missing."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for f in spec.features:
        for r in rows:
            if rng.random() < 0.05 and f.missing != "reject":
                r[f.name] = None
            elif f.type == "categorical":
                cats = f.vocab
                assert cats is not None, f"{f.name}: learned vocabulary not filled in"
                r[f.name] = cats[int(rng.integers(len(cats)))]
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
    """A small model on :func:`random_leads` with a linear ground truth, fixed calibrator and tiers."""
    spec = load_spec(spec_name)
    rows = random_leads(spec, n)
    x = FeatureEncoder(spec).encode_records(rows)
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, x.shape[1])
    logits = np.nan_to_num(x, nan=0.0) @ w / np.sqrt(x.shape[1]) * 3 - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    cal = Calibrator(x=[0.0, 0.5, 1.0], y=[0.0, 0.45, 1.0])
    return build_artifact(
        path,
        spec,
        rows,
        y,
        version=version,
        rounds=rounds,
        depth=depth,
        calibrator=cal,
        tier_cutoffs=TIERS,
        provenance={"run_id": "test"},
    )


def sample_lead(spec_name: str = "crm_freezone", lead_id: str = "L-1", seed: int = 3) -> dict[str, Any]:
    """One CRM request body: id, PII and every feature key (null where the value is unknown: the API
    requires every key)."""
    spec = load_spec(spec_name)
    row = random_leads(spec, 1, seed)[0]
    lead: dict[str, Any] = {spec.id_column: lead_id}
    pii = {"full_name": "Jane Roe", "email": "jane.roe@example.com", "phone": "+971500000000"}
    lead.update({k: v for k, v in pii.items() if k in spec.pii_fields})
    lead.update(row)
    return lead
