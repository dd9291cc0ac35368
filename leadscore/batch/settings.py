"""Batch scoring settings (``LEADSCORE_BATCH_*``), read once per run."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    """How Spark splits the gold leads between the Python workers that score them."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_BATCH_", extra="ignore")

    arrow_batch_rows: int = Field(10_000, gt=0)
    """Rows per Arrow batch handed to a Python worker (``spark.sql.execution.arrow.maxRecordsPerBatch`` while
    scoring; ``LEADSCORE_BATCH_ARROW_BATCH_ROWS``). Larger batches spend less per-call overhead but leave the
    CPU caches: on the benchmark machine 10,000 scored faster than 50,000."""
    partitions: int = Field(0, ge=0)
    """Scoring tasks (``LEADSCORE_BATCH_PARTITIONS``); 0: one per core Spark runs tasks on (``local[N]``: N).
    When gold's Parquet files hold fewer row groups than that, the rows are hash-partitioned by ``lead_id``
    first (a shuffle), else each task scores the row groups Spark assigns it."""
