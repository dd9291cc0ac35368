"""The Spark half of batch scoring: Spark schedules the scoring tasks; the Python workers do the I/O.

The driver plans one :class:`~leadscore.batch.plan.Unit` per task slot (row ranges of gold's Parquet row
groups, :mod:`leadscore.batch.plan`) and Spark runs one task per unit (``parallelize(units,
len(units)).mapPartitions``). Each task's Python worker reads its rows from the Parquet files, scores them and
writes one Parquet file of scores (:mod:`leadscore.batch.worker`); only the small :class:`WrittenFile`
records come back to the driver, which commits the files to Delta in one transaction (:mod:`leadscore.batch.score`).

Spark's own Parquet scan and its Arrow hand-off to and from the Python workers are not used: on two cores they
cost more than the scoring (``docs/benchmarks.md``, batch scoring). Spark still brings what a batch job
needs from it: task scheduling and retries, the champion broadcast to every worker, the same job on
``local[N]`` or a cluster (whose executors then need the gold files and the output folder at the same paths:
a shared volume).
"""

from __future__ import annotations

import math
import os
import re
import uuid
from pathlib import Path
from typing import Any

from leadscore.batch.plan import Unit, plan_units, repeated_rows, row_groups, with_skips
from leadscore.batch.settings import BatchSettings
from leadscore.batch.worker import (
    ScoringRun,
    UnitJob,
    WrittenFile,
    artifact_digest,
    artifact_files,
    unit_file,
    unit_scorer,
)

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


def score_units(
    spark: Any, units: list[Unit], artifact: Path, run: ScoringRun, out_dir: Path, settings: BatchSettings
) -> list[WrittenFile]:
    """Score ``units`` (one Spark task each) into Parquet files in ``out_dir``; the files, in unit order.

    The files are named ``part-<unit>-<tag>`` with a tag of this call, so two runs never write the same name.
    """
    if not units:
        return []
    model = artifact_files(artifact)
    broadcast = spark.sparkContext.broadcast(model)
    job = UnitJob(artifact_digest(model), run, str(out_dir), uuid.uuid4().hex, settings.arrow_batch_rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        rdd = spark.sparkContext.parallelize(units, len(units))
        written: list[WrittenFile] = rdd.mapPartitions(unit_scorer(broadcast, job)).collect()
    except BaseException:
        for unit in units:  # a failed job leaves no file of its own behind
            (out_dir / unit_file(job.tag, unit)).unlink(missing_ok=True)
        raise
    finally:
        broadcast.destroy()
    return written


def plan(spark: Any, files: list[str], settings: BatchSettings) -> list[Unit]:
    """One unit per task (``settings.partitions``, else :func:`task_slots`), repeated lead_ids skipped."""
    groups = row_groups(files)
    units = plan_units(groups, settings.partitions or task_slots(spark))
    return with_skips(units, groups, repeated_rows(files))
