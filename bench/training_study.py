"""Training benchmark (not a test): wall time of an Optuna study over XGBoost on 100k leads.

Run with the root env from the repo root:

    .venv/bin/python bench/training_study.py [--rows 100000] [--trials 50] [--max-seconds 1800] [--lake DIR] [--json]

Gold comes from ``--lake`` (a real ``gold/lead_features`` built by ``leadscore pipeline run``) or, by
default, a synthetic gold table following the gold column contract (``training.testkit``).
It measures exactly what ``leadscore train`` runs for tuning: time-sorted training part (80%), expanding
-window CV (``TRAINING_CV_FOLDS``, default 3), ``hist`` XGBoost with early stopping, median pruning, on
``TRAINING_N_JOBS`` threads (default 2). ``--max-seconds`` bounds the study (the running trial finishes).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before xgboost loads libgomp (shared cores)

ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from leadscore_core.encoding import FeatureEncoder  # noqa: E402
from training import gold, split, tune  # noqa: E402
from training.features import encode_frame  # noqa: E402
from training.settings import TrainingSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    ap.add_argument("--lake", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--prune-every", type=int, default=None,
        help="rounds between in-fold pruning checks (default TRAINING_PRUNE_EVERY; 0 = after whole folds only)",
    )  # fmt: skip
    args = ap.parse_args()
    command = "python bench/training_study.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    settings = TrainingSettings()
    console = Console(stderr=True)
    console.print(f"command: {command}")

    t0 = time.perf_counter()
    if args.lake:
        data = gold.read_gold(args.lake)
        frame, spec, source = data.frame, data.spec, f"{data.table_path}@v{data.version}"
    else:
        from leadscore_core.contract import load_spec
        from training.testkit import make_gold

        spec = load_spec("crm_freezone")
        frame, _ = make_gold(args.rows, seed=7, spec=spec)
        frame = frame.sort_values(["event_ts", "lead_id"]).reset_index(drop=True)
        source = f"synthetic gold ({args.rows} leads, contract columns)"
    encoder = FeatureEncoder(spec)
    x = encode_frame(encoder, frame)
    y = frame["label"].to_numpy(dtype=np.int64)
    ts = split.time_split(len(frame), settings.holdout, settings.calibration_fraction)
    folds = split.cv_folds(ts.train_end, settings.cv_folds)
    prep = time.perf_counter() - t0

    t1 = time.perf_counter()
    result = tune.run_study(
        x[ts.train],
        y[ts.train],
        folds,
        n_trials=args.trials,
        seed=settings.seed,
        n_jobs=settings.n_jobs,
        max_rounds=settings.max_rounds,
        early_stopping_rounds=settings.early_stopping_rounds,
        console=console,
        timeout=args.max_seconds,
        prune_every=settings.prune_every if args.prune_every is None else args.prune_every,
    )
    study_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    tune.fit_final(x[ts.fit], y[ts.fit], result.params, result.n_rounds)
    final_s = time.perf_counter() - t2
    out = {
        "command": command,
        "source": source,
        "rows": len(frame),
        "train_rows": ts.train_end,
        "encoded_columns": encoder.n_columns,
        "cv_folds": settings.cv_folds,
        "n_jobs": settings.n_jobs,
        "trials_requested": args.trials,
        "trials_run": result.n_trials,
        "trials_pruned": result.n_pruned,
        "bounded": result.n_trials < args.trials,
        "prepare_s": round(prep, 1),
        "study_s": round(study_s, 1),
        "s_per_trial": round(study_s / max(result.n_trials, 1), 2),
        "final_fit_s": round(final_s, 1),
        "best_cv_auc": round(result.cv_auc, 4),
        "prune_every": settings.prune_every if args.prune_every is None else args.prune_every,
        "best_params": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.params.items()},
        "load_avg_1m": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:18} {v}")


if __name__ == "__main__":
    main()
