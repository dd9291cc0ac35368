"""Quality comparison (not a timing benchmark): one-hot vs XGBoost's native categorical encoding of a
~500-level learned categorical, on the generated "export 2" (:func:`leadscore.datagen.exports.write_agent_export`).

Run with the root env from the repo root:

    .venv/bin/python bench/native_categorical.py [--rows 8000] [--seeds 0 1 2] [--trials 8] [--json]

Per seed it writes the export (two lead files + a label file), reads it the way ``pipeline run --source files``
does (the spec's ``inputs``, bronze's validation), orders it by the spec's time order, learns the vocabularies on
the training part (80%), then for each encoding of ``agent_id`` runs the same tiny Optuna study, refits on the
training part and reports the holdout AUC, the encoded width and the wall time of study + fit. The wall time is
indicative only on a shared machine; the AUC is the point.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadscore.datagen.exports import write_agent_export
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.vocabulary import learn_vocabularies
from training import split, tune
from training.features import dmatrix, encode_frame, feature_columns
from training.testkit import export_gold


def gold_frame(spec: FeatureSpec, directory: Path) -> pd.DataFrame:
    """The valid rows of an export directory, oldest first, as gold holds them."""
    return split.order_frame(export_gold(spec, directory), spec.time_order)


def run_one(spec: FeatureSpec, frame: pd.DataFrame, encoding: str, trials: int, seed: int) -> dict[str, Any]:
    feats = [f.model_copy(update={"encoding": encoding}) if f.name == "agent_id" else f for f in spec.features]
    spec = spec.model_copy(update={"features": feats})
    ts = split.time_split(len(frame), 0.2, 0.2)
    spec = spec.with_vocabularies(learn_vocabularies(spec, feature_columns(frame.iloc[ts.train], spec)))
    encoder = FeatureEncoder(spec)
    x, y = encode_frame(encoder, frame), frame["label"].to_numpy()
    types = encoder.feature_types if encoder.categorical else None
    t0 = time.perf_counter()
    folds = split.cv_folds(ts.train_end, 3)
    study = tune.run_study(
        x[ts.train],
        y[ts.train],
        folds,
        n_trials=trials,
        seed=seed,
        n_jobs=1,
        max_rounds=400,
        early_stopping_rounds=30,
        feature_types=types,
    )
    booster = tune.fit_final(x[ts.train], y[ts.train], study.params, study.n_rounds, types)
    seconds = time.perf_counter() - t0
    p = booster.predict(dmatrix(encoder, x[ts.holdout]))
    return {
        "encoding": encoding,
        "seed": seed,
        "holdout_auc": round(float(roc_auc_score(y[ts.holdout], p)), 4),
        "cv_auc": round(study.cv_auc, 4),
        "columns": encoder.n_columns,
        "agent_levels": len(spec.feature("agent_id").vocab or []),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=8000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            export = write_agent_export(Path(tmp) / "export", rows=args.rows, seed=seed)
            spec = load_spec(export.spec_path)
            frame = gold_frame(spec, export.directory)
        for encoding in ("onehot", "native"):
            results.append(run_one(spec, frame, encoding, args.trials, seed))
            if not args.json:
                print(results[-1], flush=True)
    if args.json:
        print(json.dumps(results))
    else:
        for enc in ("onehot", "native"):
            rows = [r for r in results if r["encoding"] == enc]
            print(
                f"{enc}: mean holdout AUC {np.mean([r['holdout_auc'] for r in rows]):.4f}, "
                f"mean seconds {np.mean([r['seconds'] for r in rows]):.1f}, columns {rows[0]['columns']}"
            )


if __name__ == "__main__":
    main()
