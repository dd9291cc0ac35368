"""Clean lead frames straight from the generator's samplers: what the contract lets through, without files.

``leadscore data generate`` writes a CRM export (with duplicates, malformed lines and unknown values) for
the pipeline; simulations of the monitors (``bench/drift_power.py``, the drift-verdict tests) need many
windows of clean leads with their ground truth, fast. :func:`clean_frame` draws them with the same
samplers, drift knobs and seed semantics, as column arrays by feature name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from leadscore.datagen.events import sample_window_counts
from leadscore.datagen.synth import auc, sample_leads, sigmoid, true_logit
from leadscore_core.contract import FeatureSpec

MOVED = {
    "source_mix": ("lead_source",),
    "engagement": (
        "pages_per_visit",
        "email_opens",
        "email_clicks",
        "web_visits",
        "pricing_views",
        "form_completions",
        "time_on_site_sec",
    ),
    "concept": (),
}
"""The features each drift kind moves on purpose (``concept`` moves none: only the labels change)."""


@dataclass
class Frame:
    """``n`` leads in creation order: clean feature columns, true conversion probability, realised label."""

    columns: dict[str, np.ndarray]
    """Feature -> values: float64 (numeric), object str (categorical), bool (boolean)."""
    created_s: np.ndarray
    probability: np.ndarray
    converted: np.ndarray

    @property
    def n(self) -> int:
        return len(self.probability)

    def take(self, idx: np.ndarray) -> Frame:
        return Frame(
            {k: v[idx] for k, v in self.columns.items()},
            self.created_s[idx],
            self.probability[idx],
            self.converted[idx],
        )

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        cols = [self.columns[k].tolist() for k in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def clean_frame(
    spec: FeatureSpec,
    seed: int,
    n: int,
    drift: str | None = None,
    strength: float = 0.5,
    start: str = "2026-01-01",
    months: int = 6,
) -> Frame:
    """Draw ``n`` leads like ``data generate --seed seed --drift drift --drift-strength strength`` would."""
    rng = np.random.default_rng(seed)
    start_s = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp())
    leads = sample_leads(spec, rng, n, start_s, months, drift, strength)
    window = sample_window_counts(leads, rng)
    p = sigmoid(true_logit(leads, window.features, drift, strength))
    converted = rng.random(n) < p
    columns: dict[str, np.ndarray] = {}
    for f in spec.features:
        if f.from_events is not None:
            columns[f.name] = window.features[f.name].astype(np.float64)
        elif f.type == "categorical":
            columns[f.name] = leads.cat[f.name]
        elif f.type == "boolean":
            columns[f.name] = leads.has_existing_company
        else:
            columns[f.name] = leads.num[f.name].astype(np.float64)
    return Frame(columns, leads.created_s, p, converted)


def build_reference(spec: FeatureSpec, out: Path, n: int = 20_000, seed: int = 1000) -> tuple[Path, float]:
    """A small real model artifact made the way training makes one, and its holdout AUC.

    ``n`` leads (``seed``) over six months, time-split 70/30; XGBoost fitted on the first 70 %, whose
    drift reference (bins, sample, in-sample scores) ``save_artifact`` writes; AUC on the last 30 %.
    Needs xgboost (root and monitors envs have it); used by ``bench/drift_power.py`` and the tests.
    """
    import xgboost as xgb

    from leadscore_core.artifact import Manifest
    from leadscore_core.encoding import FeatureEncoder
    from leadscore_core.reference import build_drift_reference, reference_sample, save_artifact

    frame = clean_frame(spec, seed, n)
    cut = int(n * 0.7)
    train, hold = frame.take(np.arange(cut)), frame.take(np.arange(cut, n))
    enc = FeatureEncoder(spec)
    x = enc.encode_columns(train.columns, train.n)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "nthread": 1, "seed": 0},
        xgb.DMatrix(x, label=train.converted.astype(int)),
        num_boost_round=120,
    )
    prob = booster.predict(xgb.DMatrix(x))
    hold_auc = auc(booster.predict(xgb.DMatrix(enc.encode_columns(hold.columns, hold.n))), hold.converted)
    cols = {k: list(v) for k, v in train.columns.items()}
    manifest = Manifest(
        model_name="lead-scoring",
        spec=spec,
        spec_fingerprint=spec.fingerprint(),
        columns=enc.columns,
        tier_cutoffs={t: float(np.quantile(prob, q)) for t, q in spec.scoring.tiers.items()},
        provenance={"model_version": "bench"},
        metrics={"auc": hold_auc},
    )
    path = save_artifact(out, manifest, booster, build_drift_reference(spec, cols, prob), reference_sample(spec, cols))
    return path, hold_auc
