"""Batch scoring settings (``LEADSCORE_BATCH_*``), read once per run."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    """How the gold leads are split between the Spark tasks that score them, and how each task batches them."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_BATCH_", extra="ignore")

    arrow_batch_rows: int = Field(10_000, gt=0)
    """Rows a Python worker scores at a time (``LEADSCORE_BATCH_ARROW_BATCH_ROWS``): each batch is encoded,
    scored and written as one Parquet row group. Larger batches spend less per-call overhead but leave the
    CPU caches: on the benchmark machine 10,000 scored faster than 50,000."""
    partitions: int = Field(0, ge=0)
    """Scoring tasks (``LEADSCORE_BATCH_PARTITIONS``); 0: one per core Spark runs tasks on (``local[N]``: N).
    Each task scores a nearly equal share of the rows (a row group is cut into ranges when it is larger
    than a share) and writes one Parquet file of scores."""
