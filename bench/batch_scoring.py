"""Benchmark: batch scoring rows/s on N gold leads (default 1M): PySpark vs pandas + xgboost, one run.

Not a test. Builds a synthetic gold table of N leads (spec ``crm_freezone``) and a small one to train the
champion on (fast settings), then times, on the same rows, each from the Delta table to a Delta table:

* ``spark``            what ``leadscore batch score`` runs (:func:`leadscore.batch.score.score_to_delta`):
                       PySpark ``local[2]`` runs one task per core; each task's Python worker reads its share
                       of the Parquet files delta-rs resolves, scores it with reasons and writes a Parquet
                       file; the driver commits the files as the new ``gold/lead_scores`` version (delta-rs).
                       The first Spark job of the session (JIT and Python workers cold), as in a nightly run;
                       the CRM upsert (PostgreSQL) is not timed;
* ``spark_warm``       the same, run again in the same session (steady state);
* ``spark_no_reasons`` the same without reasons (the work the raw paths do);
* ``pandas``           delta-rs -> pandas -> ``encode_frame`` -> ``Booster.inplace_predict`` -> calibrate, tiers ->
                       delta-rs (the raw rate as first measured);
* ``raw``              delta-rs -> Arrow -> the vectorized encoder the Spark workers use -> ``inplace_predict``
                       (2 threads) -> delta-rs: the fastest single-process path without reasons, the strict raw rate;
* ``local_reasons``    the Spark workers' code (:func:`leadscore.batch.worker.score_batch`, reasons included) in
                       this one process, XGBoost on 2 threads: the deployed work without Spark.

SparkSession start-up (JVM launch) is timed on its own (``spark_session_start``) and is in no path's time.
Every path reports wall seconds, rows/s and the CPU seconds of this process and its children (JVM, Python
workers). Pin the cores, e.g.::

    taskset -c 0,1 .venv/bin/python bench/batch_scoring.py --rows 1000000 --timeout 3600

``--timeout`` bounds the whole run (SIGALRM). Results as JSON on stdout.
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


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and its descendants, alive (JVM, Python workers) or reaped."""
    procs: dict[int, tuple[int, int]] = {}
    for d in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{d}/stat").read_text() if d.isdigit() else ""
        except OSError:
            continue
        if stat:
            rest = stat[stat.rindex(")") + 2 :].split()
            procs[int(d)] = (int(rest[1]), sum(int(v) for v in rest[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [os.getpid()]
    while stack:
        pid = stack.pop()
        total += procs.get(pid, (0, 0))[1]
        stack.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def timed(fn, rows: int) -> dict[str, float]:  # noqa: ANN001
    cpu0, t0 = tree_cpu_seconds(), time.perf_counter()
    fn()
    seconds, cpu = time.perf_counter() - t0, tree_cpu_seconds() - cpu0
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1), "cpu_seconds": round(cpu, 1)}


def _scores_table(lead_id, scored, reasons=None):  # noqa: ANN001, ANN202
    """The batch output schema, from a core ``ScoreBatch`` (no reasons: ``[]``)."""
    import pyarrow as pa

    from leadscore.batch.worker import OUTPUT_SCHEMA

    n = len(scored.probability)
    stamp = pd.Timestamp.now(tz="UTC").floor("s")
    return pa.table(
        [
            pa.array(lead_id, type=pa.string()),
            pa.array(scored.score),
            pa.array(scored.probability),
            pa.array(scored.tier, type=pa.string()),
            reasons if reasons is not None else pa.repeat(pa.scalar("[]"), n),
            pa.repeat(pa.scalar("1"), n),
            pa.repeat(pa.scalar(0, pa.int64()), n),
            pa.repeat(pa.scalar(stamp.to_pydatetime(), pa.timestamp("us", "UTC")), n),
        ],
        schema=OUTPUT_SCHEMA,
    )


def pandas_path(lake: Path, artifact: Path, out: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    from leadscore_core.artifact import LeadScorer
    from training.features import encode_frame

    scorer = LeadScorer(artifact).load(nthread=2)
    assert scorer.encoder is not None
    frame = DeltaTable(str(lake / "gold" / "lead_features")).to_pandas()
    batch = scorer.score(encode_frame(scorer.encoder, frame))  # Booster.inplace_predict for > 16 rows
    write_deltalake(str(out), _scores_table(frame["lead_id"], batch), mode="overwrite")


def raw_path(lake: Path, artifact: Path, out: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    from leadscore.batch.arrow_features import encode_batch
    from leadscore_core.artifact import LeadScorer

    scorer = LeadScorer(artifact).load(nthread=2)
    assert scorer.encoder is not None
    table = DeltaTable(str(lake / "gold" / "lead_features")).to_pyarrow_table()
    batch = scorer.score(encode_batch(scorer.encoder, table), compiled=False)
    write_deltalake(str(out), _scores_table(table.column("lead_id"), batch), mode="overwrite")


def local_reasons_path(lake: Path, artifact: Path, out: Path) -> None:
    from datetime import UTC, datetime

    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from leadscore.batch.worker import OUTPUT_SCHEMA, ScoringRun, score_batch
    from leadscore_core.artifact import LeadScorer

    scorer = LeadScorer(artifact).load(nthread=2)
    columns = ["lead_id", *scorer.spec.feature_names]
    gold = DeltaTable(str(lake / "gold" / "lead_features")).to_pyarrow_dataset()
    run = ScoringRun("1", 0, datetime.now(UTC).replace(microsecond=0))
    batches = (score_batch(scorer, b, run) for b in gold.to_batches(columns=columns, batch_size=10_000) if b.num_rows)
    write_deltalake(str(out), pa.RecordBatchReader.from_batches(OUTPUT_SCHEMA, batches), mode="overwrite")


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

    from leadscore.batch.score import champion_artifact
    from training.settings import TrainingSettings
    from training.train import TrainRequest, train

    write_gold(work / "train-lake", synthetic_gold(args.train_rows, args.seed))
    train(TrainRequest(lake=work / "train-lake", trials=5), TrainingSettings(plots=False, n_jobs=1))
    lake = work / "lake"
    write_gold(lake, synthetic_gold(args.rows, args.seed + 1))
    artifact, version = champion_artifact()
    results = {"rows": args.rows, "load_before": [round(v, 2) for v in os.getloadavg()]}
    results.update(run_paths(lake, artifact, version, work, args.rows))
    results["load_after"] = [round(v, 2) for v in os.getloadavg()]
    results.update({"cpu_count": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0))})
    results.update(ratios(results))
    print(json.dumps(results))
    return 0


def run_paths(lake: Path, artifact: Path, version: str, work: Path, rows: int) -> dict[str, object]:
    """Every path on the same rows; Spark first, so ``spark`` is the session's first job (cold)."""
    from leadscore.batch.score import score_to_delta
    from leadscore.lakehouse.settings import PipelineSettings
    from leadscore.lakehouse.spark import get_spark

    holder: dict[str, object] = {}
    started = timed(
        lambda: holder.update(spark=get_spark(PipelineSettings(spark_master="local[2]"), "bench-batch-scoring")), 1
    )
    spark = holder["spark"]
    out: dict[str, object] = {"spark_session_start": {k: started[k] for k in ("seconds", "cpu_seconds")}}
    out["spark"] = timed(lambda: score_to_delta(lake, artifact, version, spark, reasons=True), rows)
    out["spark_warm"] = timed(lambda: score_to_delta(lake, artifact, version, spark, reasons=True), rows)
    out["spark_no_reasons"] = timed(lambda: score_to_delta(lake, artifact, version, spark, reasons=False), rows)
    spark.stop()  # type: ignore[attr-defined]
    out["pandas"] = timed(lambda: pandas_path(lake, artifact, work / "pandas_scores"), rows)
    out["raw"] = timed(lambda: raw_path(lake, artifact, work / "raw_scores"), rows)
    out["local_reasons"] = timed(lambda: local_reasons_path(lake, artifact, work / "local_scores"), rows)
    return out


def ratios(results: dict) -> dict[str, float]:  # noqa: ANN001
    rate = {k: v["rows_per_s"] for k, v in results.items() if isinstance(v, dict) and "rows_per_s" in v}
    return {
        "spark_vs_raw": round(rate["spark"] / rate["raw"], 3),
        "spark_warm_vs_raw": round(rate["spark_warm"] / rate["raw"], 3),
        "spark_vs_pandas": round(rate["spark"] / rate["pandas"], 3),
        "spark_no_reasons_vs_raw": round(rate["spark_no_reasons"] / rate["raw"], 3),
        "spark_vs_local_reasons": round(rate["spark"] / rate["local_reasons"], 3),
    }


if __name__ == "__main__":
    sys.exit(main())
