"""Benchmark: batch scoring rows/s on N gold leads (default 1M): PySpark vs pandas + xgboost, one run.

Not a test. Builds a synthetic gold table of N leads (spec ``crm_freezone``) and a small one to train the
champion on (fast settings), then times, on the same rows, each from the Delta table to a Delta table:

* ``spark``          PySpark ``local[2]``: files resolved by delta-rs -> ``mapInPandas`` with the core
                     ``LeadScorer`` (no reasons) -> Arrow -> delta-rs ``gold/lead_scores`` (the batch path);
* ``spark_reasons``  the same with per-lead reasons (TreeSHAP contributions), what ``leadscore batch score`` runs;
* ``pandas``         delta-rs -> pandas -> encode -> ``Booster.inplace_predict`` -> calibrate -> delta-rs.

The CRM upsert is not timed (PostgreSQL-bound). Pin the cores, e.g.::

    taskset -c 0,1 .venv/bin/python bench/batch_scoring.py --rows 1000000 --timeout 3600

Each phase runs in this process; ``--timeout`` bounds the whole run (SIGALRM). Results as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_gold(n: int, seed: int) -> pd.DataFrame:
    """Gold rows that follow the ``crm_freezone`` contract, with a logistic label."""
    from leadscore_core.contract import load_spec

    spec = load_spec("crm_freezone")
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 180 * 86400, n)), unit="s")
    frame = pd.DataFrame({"lead_id": [f"B{seed}-{i:08d}" for i in range(n)], "event_ts": ts})
    logit = np.full(n, -1.6)
    for k, f in enumerate(spec.features):
        if f.type == "categorical":
            cats = np.array(list(f.vocab or ["x"]), dtype=object)
            idx = rng.integers(0, len(cats), n)
            logit += (0.8 if k % 3 == 0 else 0.2) * (idx == 0)
            frame[f.name] = cats[idx]
        elif f.type == "boolean":
            values = rng.random(n) < 0.4
            logit += 0.5 * values
            frame[f.name] = values
        else:
            lo = f.min if f.min is not None else 0.0
            raw = lo + 100.0 * rng.beta(1.5, 4.0, n)
            logit += (0.6 if k % 3 == 0 else 0.1) * (raw - raw.mean()) / (raw.std() + 1e-9)
            frame[f.name] = raw
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame["label_ts"] = frame["event_ts"]
    return frame


def write_gold(lake: Path, frame: pd.DataFrame) -> None:
    """Gold as the pipeline commits it: with the spec record training requires (``commit_metadata``)."""
    from training.testkit import write_gold as write_pipeline_gold

    write_pipeline_gold(lake, frame)


def timed(fn, rows: int) -> dict[str, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1)}


def pandas_path(lake: Path, artifact: Path, out: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    from leadscore_core.artifact import LeadScorer
    from training.features import encode_frame

    scorer = LeadScorer(artifact).load(nthread=2)
    assert scorer.encoder is not None
    frame = DeltaTable(str(lake / "gold" / "lead_features")).to_pandas()
    batch = scorer.score(encode_frame(scorer.encoder, frame))  # Booster.inplace_predict for > 16 rows
    result = pd.DataFrame({"lead_id": frame["lead_id"], "probability": batch.probability, "tier": batch.tier})
    write_deltalake(str(out), result, mode="overwrite")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    signal.alarm(args.timeout)  # bounded: SIGALRM ends the run
    work = args.workdir or Path(tempfile.mkdtemp(prefix="leadscore-bench-batch-"))
    os.environ["LEADSCORE_HOME"] = str(work / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    from leadscore.batch.score import champion_artifact, score_to_delta
    from leadscore.lakehouse.settings import PipelineSettings
    from leadscore.lakehouse.spark import get_spark
    from training.settings import TrainingSettings
    from training.train import TrainRequest, train

    write_gold(work / "train-lake", synthetic_gold(args.train_rows, args.seed))
    train(TrainRequest(lake=work / "train-lake", trials=5), TrainingSettings(plots=False, n_jobs=1))
    lake = work / "lake"
    write_gold(lake, synthetic_gold(args.rows, args.seed + 1))
    artifact, version = champion_artifact()
    spark = get_spark(PipelineSettings(spark_master="local[2]"), app_name="bench-batch-scoring")
    results = {
        "rows": args.rows,
        "pandas": timed(lambda: pandas_path(lake, artifact, work / "pandas_scores"), args.rows),
        "spark": timed(lambda: score_to_delta(lake, artifact, version, spark, reasons=False), args.rows),
        "spark_reasons": timed(lambda: score_to_delta(lake, artifact, version, spark, reasons=True), args.rows),
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
    }
    results["spark_vs_pandas"] = round(results["spark"]["rows_per_s"] / results["pandas"]["rows_per_s"], 3)
    spark.stop()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
