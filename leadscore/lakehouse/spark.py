"""The Spark session: ``local[*]`` by default, whatever ``spark-submit`` configured on a cluster."""

from __future__ import annotations

import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

from leadscore.lakehouse.settings import PipelineSettings

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


def get_spark(settings: PipelineSettings | None = None, app_name: str = "leadscore-medallion") -> SparkSession:
    """Build (or reuse) the session.

    Under ``spark-submit`` the master and resources come from the submit configuration; locally
    the session is ``local[*]`` with few shuffle partitions, no UI, UTC and Arrow transfers, and
    the Python workers use this interpreter.
    """
    settings = settings or PipelineSettings()
    submitted = SparkConf().contains("spark.master")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if not submitted:
        builder = (
            builder.master(settings.spark_master)
            .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
            .config("spark.default.parallelism", str(settings.spark_shuffle_partitions))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", driver_memory(settings.spark_driver_memory))
            .config("spark.sql.adaptive.enabled", "true")
        )
    spark = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def driver_memory(setting: str) -> str:
    """The heap for ``spark.driver.memory``: ``setting`` itself, or for ``auto`` a third of physical
    memory clamped to 2-8 GiB."""
    if setting != "auto":
        return setting
    try:
        total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return "3g"
    return f"{int(min(8, max(2, total_gib // 3)))}g"


def has_delta_extension(spark: SparkSession) -> bool:
    """True when the session runs Spark-native Delta (``delta-spark`` jars + extension configured)."""
    return DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions", "") or "")
