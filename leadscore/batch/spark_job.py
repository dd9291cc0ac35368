"""The Spark half of batch scoring: gold Parquet -> Python workers (``mapInArrow``) -> Arrow on the driver.

Spark reads only ``lead_id`` and the spec's feature columns. The rows reach the Python workers as Arrow
batches of :attr:`~leadscore.batch.settings.BatchSettings.arrow_batch_rows` and come back as Arrow: no pandas
on either side. One task per core does the scoring: when gold's files hold fewer Parquet row groups than
that (delta-rs writes up to ~1M rows per row group, and Spark cannot split a row group), the rows are
hash-partitioned by ``lead_id`` first, which costs a shuffle but keeps every core scoring.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.batch.settings import BatchSettings
from leadscore.batch.worker import OUTPUT_SCHEMA, ScoringRun, artifact_digest, artifact_files, batch_scorer
from leadscore_core.artifact import MANIFEST, Manifest

ARROW_BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"
_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\d+)?\])?")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2 CPU quota of this container: ``<quota|max> <period>`` (microseconds)."""


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on: its CPU affinity, capped by the cgroup v2 CPU quota (a pod's CPU limit,
    which ``os.cpu_count()`` does not see)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def task_slots(spark: Any, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Tasks Spark runs at once: N for ``local[N]`` (:func:`available_cpus` for ``local[*]``), else the
    default parallelism the cluster manager reports."""
    match = _LOCAL.fullmatch(spark.sparkContext.master)
    if match is None:
        return int(spark.sparkContext.defaultParallelism)
    if match.group(1) == "*":
        return available_cpus(cpu_max)
    return int(match.group(1) or 1)


def row_groups(files: list[str]) -> int:
    """Parquet row groups in ``files`` (local paths): the most tasks a scan of them can keep busy."""
    return sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)


def scored_table(spark: Any, files: list[str], artifact: Path, run: ScoringRun, settings: BatchSettings) -> pa.Table:
    """Score the gold rows in ``files`` with the artifact; one :data:`OUTPUT_SCHEMA` row per input row."""
    from pyspark.sql.pandas.types import from_arrow_schema

    model = artifact_files(artifact)
    spec = Manifest.model_validate_json(model[MANIFEST]).spec
    broadcast = spark.sparkContext.broadcast(model)
    previous = spark.conf.get(ARROW_BATCH, None)
    spark.conf.set(ARROW_BATCH, str(settings.arrow_batch_rows))
    try:
        leads = spark.read.parquet(*files).select("lead_id", *spec.feature_names)
        tasks = settings.partitions or task_slots(spark)
        if row_groups(files) < tasks:
            leads = leads.repartition(tasks, "lead_id")
        scorer = batch_scorer(broadcast, artifact_digest(model), run)
        table = leads.mapInArrow(scorer, from_arrow_schema(OUTPUT_SCHEMA)).toArrow()
    finally:
        if previous is None:
            spark.conf.unset(ARROW_BATCH)
        else:
            spark.conf.set(ARROW_BATCH, previous)
        broadcast.destroy()
    return table.cast(OUTPUT_SCHEMA) if table.schema != OUTPUT_SCHEMA else table
