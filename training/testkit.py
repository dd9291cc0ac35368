"""Test kit of the training side (importable by tests and bench): small gold Delta tables that follow the gold
column contract (no pipeline needed),
tiny-study settings, and the shape of the session's trained store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from deltalake import write_deltalake

from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.lake import GOLD_FEATURES, GOLD_TRUTH, commit_metadata
from leadscore_core.settings import HomeSettings
from training.settings import TrainingSettings


def make_gold(
    n: int = 3000, seed: int = 0, spec: FeatureSpec | None = None, strength: float = 1.0, base: float = -1.6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gold frame, ground truth) with a known logistic conversion probability driven by a few features."""
    spec = spec or load_spec("crm_freezone")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, 180 * 86400, n)), unit="s")
    frame = pd.DataFrame({"lead_id": [f"L{seed}-{i:06d}" for i in range(n)], "event_ts": ts})
    logit = np.full(n, base)
    for k, f in enumerate(spec.features):
        effect = strength * (1.0 if k % 3 == 0 else 0.3)
        if f.type == "categorical":
            cats = np.array(list(f.vocab or []), dtype=object)
            values = cats[rng.integers(0, len(cats), n)]
            values[rng.random(n) < 0.05] = None
            weights = dict(zip(cats, rng.normal(0, effect, len(cats)), strict=True))
            logit += np.array([weights.get(v, 0.0) for v in values])
            frame[f.name] = pd.Series(values, dtype=object)
        elif f.type == "boolean":
            values = rng.random(n) < 0.4
            logit += effect * values
            frame[f.name] = values
        else:
            lo = f.min if f.min is not None else 0.0
            hi = min(f.max if f.max is not None else lo + 100.0, lo + 100.0)
            raw = lo + (hi - lo) * rng.beta(1.5, 4.0, n)
            logit += effect * (raw - raw.mean()) / (raw.std() + 1e-9)
            raw[rng.random(n) < 0.05] = np.nan
            frame[f.name] = raw
    p = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(n) < p).astype(np.int64)
    frame["label"] = label
    frame["label_ts"] = frame["event_ts"].where(label == 1) + pd.Timedelta(days=3)
    frame["_batch_id"] = "test-batch"
    return frame, pd.DataFrame({"lead_id": frame["lead_id"], "true_probability": p})


def write_gold(
    lake: Path,
    frame: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    mode: Literal["overwrite", "append"] = "overwrite",
    spec: FeatureSpec | None = None,
) -> int:
    """Write ``gold/lead_features`` (and ``gold/ground_truth``) with the commit metadata the pipeline
    writes (:func:`leadscore_core.lake.commit_metadata`); returns the new Delta version."""
    from deltalake import CommitProperties, DeltaTable

    path = lake / GOLD_FEATURES
    meta = commit_metadata(spec or load_spec("crm_freezone"), "test-batch", "test")
    commit = CommitProperties(custom_metadata=meta)
    if mode == "overwrite":  # as the pipeline overwrites gold (schema included)
        write_deltalake(str(path), frame, mode="overwrite", schema_mode="overwrite", commit_properties=commit)
    else:
        write_deltalake(str(path), frame, mode="append", commit_properties=commit)
    if truth is not None:
        write_deltalake(str(lake / GOLD_TRUTH), truth, mode="overwrite")
    return int(DeltaTable(str(path)).version())


def fast_settings(**overrides: Any) -> TrainingSettings:
    """Tiny studies: a handful of trials, two folds, few rounds, one thread."""
    base: dict[str, Any] = {
        "trials": 3,
        "cv_folds": 2,
        "max_rounds": 120,
        "early_stopping_rounds": 10,
        "n_jobs": 1,
        "reference_sample_size": 500,
    }
    return TrainingSettings(**{**base, **overrides})


@dataclass
class Trained:
    home: HomeSettings
    lake: Path
    first: dict[str, Any]
    second: dict[str, Any]


def export_gold(spec: FeatureSpec, source: Path) -> pd.DataFrame:
    """Gold rows of an export (a lead CSV, or a directory read by the spec's ``inputs``), through bronze's own
    reading and validation (no Spark): the valid rows' clean values, ``event_ts``/``event_order`` as the
    pipeline writes them."""
    import tempfile

    from leadscore.lakehouse.sources import files_batch, read_csv_text, safe_name
    from leadscore.lakehouse.validate import feature_column, validate_chunk
    from leadscore.objectstore import ObjectStore

    if source.is_dir():
        with tempfile.TemporaryDirectory() as lake:
            table = files_batch(spec, source, ObjectStore(lake)).leads
    else:
        table, _ = read_csv_text(source, spec)
    raw = table.rename_columns([safe_name(c) for c in table.column_names]).to_pandas()
    out = validate_chunk(raw, spec)
    out = out[out["_reason"].isna()]
    frame = pd.DataFrame(
        {
            "lead_id": out["_lead_id"],
            "event_ts": out["_event_ts"],
            "event_order": out["_event_order"],
            "label": out["_label"].astype("int64"),
            "label_ts": out["_label_ts"],
        }
    )
    for f in spec.features:
        frame[f.name] = out[feature_column(f)]
    frame["_batch_id"] = "export"
    return frame.reset_index(drop=True)
