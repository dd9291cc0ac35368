"""Small synthetic lead frames and tiny real model artifacts for the monitor tests and benchmarks.

Values are clean (as :func:`leadscore_core.validation.check_record` returns them); the artifact is a
real XGBoost booster with a real drift reference written by :func:`leadscore_core.reference.save_artifact`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.testkit import build_artifact

SOURCE_MIX = {
    "website": 0.3,
    "paid_search": 0.2,
    "social": 0.15,
    "referral": 0.1,
    "partner": 0.1,
    "event": 0.05,
    "email_campaign": 0.04,
    "chatbot": 0.03,
    "walk_in": 0.02,
    "cold_call": 0.01,
}
DRIFTED_SOURCE_MIX = {
    "website": 0.05,
    "paid_search": 0.05,
    "social": 0.5,
    "referral": 0.02,
    "partner": 0.02,
    "event": 0.02,
    "email_campaign": 0.02,
    "chatbot": 0.3,
    "walk_in": 0.01,
    "cold_call": 0.01,
}


def spec() -> FeatureSpec:
    return load_spec("crm_freezone")


def make_records(n: int, seed: int, drift: str | None = None) -> list[dict[str, Any]]:
    """``n`` clean lead records; ``drift="source_mix"`` shifts lead_source, ``"engagement"`` web_visits."""
    rng = np.random.default_rng(seed)
    s = spec()
    mix = DRIFTED_SOURCE_MIX if drift == "source_mix" else SOURCE_MIX
    sources = list(mix)
    probs = np.asarray(list(mix.values()))
    out = []
    for _ in range(n):
        r: dict[str, Any] = {}
        for f in s.features:
            if f.type == "categorical":
                assert f.categories is not None
                if f.name == "lead_source":
                    r[f.name] = str(rng.choice(sources, p=probs / probs.sum()))
                else:
                    w = np.linspace(2.0, 1.0, len(f.categories))
                    r[f.name] = str(rng.choice(f.categories, p=w / w.sum()))
            elif f.type == "boolean":
                r[f.name] = bool(rng.random() < 0.3)
            else:
                scale = {
                    "visas_requested": 2.0,
                    "pages_per_visit": 4.0,
                    "web_visits": 6.0,
                    "time_on_site_sec": 600.0,
                }.get(f.name, 3.0)
                if drift == "engagement" and f.name == "web_visits":
                    scale *= 3.0
                v = float(np.round(rng.gamma(2.0, scale), 1))
                r[f.name] = None if rng.random() < 0.05 else min(v, f.max or v)
        out.append(r)
    return out


def labels(records: list[dict[str, Any]], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    logit = np.asarray(
        [
            0.15 * (r["web_visits"] or 0) + (1.0 if r["lead_source"] in {"referral", "partner"} else 0.0) - 2.5
            for r in records
        ]
    )
    return (rng.random(len(records)) < 1 / (1 + np.exp(-logit))).astype(int)


def make_artifact(path: Path, seed: int = 0, n: int = 3000, version: str = "1") -> Path:
    """A tiny real booster on synthetic leads (:func:`leadscore_core.testkit.build_artifact`)."""
    records = make_records(n, seed)
    return build_artifact(
        path, spec(), records, labels(records, seed), version=version, seed=seed, rounds=20 + seed, sample_size=5000
    )
