"""Entry point of the medallion job, for ``python -m leadscore.lakehouse.job`` and ``spark-submit``.

Locally the session is ``local[*]``; under ``spark-submit --master ...`` it is whatever the submit
configured (add the ``delta-spark`` package and extension there to write Delta natively)::

    spark-submit --master k8s://... --packages io.delta:delta-spark_2.13:4.0.0 \\
      --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
      --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
      leadscore/lakehouse/job.py --source crm --lake s3://bucket/lake

The lake is a local path or ``s3://bucket/prefix`` (see :mod:`leadscore.lakehouse.delta_io` for how a
Spark without hadoop-aws still builds an S3 lake through delta-rs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from leadscore.lakehouse.bronze import check_source_schema
from leadscore.lakehouse.counts import RunReport
from leadscore.lakehouse.pipeline import Step, empty_run, is_empty, run_pipeline
from leadscore.lakehouse.settings import PipelineSettings
from leadscore.lakehouse.sources import RawBatch, csv_batch, files_batch
from leadscore.objectstore import ObjectStore
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.storage import StorageUri

SOURCES = ("crm", "files", "csv")


def make_batch(spec: FeatureSpec, source: str, path: Path | None, lake: ObjectStore) -> RawBatch:
    """Read the raw batch for ``source`` (``crm``, ``files DIR`` or ``csv PATH``)."""
    if source == "crm":
        from leadscore.lakehouse.crm_source import crm_batch

        return crm_batch(spec, lake)
    if source not in SOURCES:
        raise ValueError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    if path is None:
        raise ValueError(f"--source {source} needs a path (e.g. --source {source} /data/raw)")
    return files_batch(spec, path, lake) if source == "files" else csv_batch(spec, path, lake)


def run(
    spec_name: str,
    source: str,
    path: Path | None,
    lake: StorageUri | Path | str | None,
    settings: PipelineSettings | None = None,
    step: Step | None = None,
) -> RunReport:
    """Load the spec, check the lake answers, read the batch, start Spark and run the medallion.

    Raises:
        StorageUnreachable: the lake's S3 endpoint does not answer (checked first, bounded; nothing written).
        StorageUriError: the lake location is unusable (bad URI, missing bucket).
    """
    from leadscore.lakehouse.spark import get_spark

    settings = settings or PipelineSettings()
    spec = load_spec(spec_name)
    store = ObjectStore(lake if lake is not None else settings.lake)
    if step:
        step(f"checking the lake {store.describe()}")
    store.check(create=True)
    if step:
        step(f"reading source {source}")
    batch = make_batch(spec, source, path, store)
    if is_empty(batch):
        return empty_run(spec, batch, store)
    check_source_schema(batch.leads, spec)  # fail fast, before Spark starts
    if step:
        step("starting Spark")
    spark = get_spark(settings)
    return run_pipeline(spark, spec, batch, store, step=step)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print the report as one JSON object on stdout."""
    parser = argparse.ArgumentParser(prog="leadscore.lakehouse.job", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="crm_freezone")
    parser.add_argument("--source", default="crm", choices=SOURCES)
    parser.add_argument("path", nargs="?", type=Path)
    parser.add_argument("--lake", default=None, help="local path or s3://bucket/prefix")
    args = parser.parse_args(argv)
    report = run(args.spec, args.source, args.path, args.lake, step=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(json.dumps(report.to_json(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
