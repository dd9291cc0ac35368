"""Pipeline settings (``LEADSCORE_`` env prefix, like every CLI-level setting)."""

from __future__ import annotations

from pydantic import Field

from leadscore_core.settings import HomeSettings


class PipelineSettings(HomeSettings):
    """How the medallion job runs locally; on a cluster ``spark-submit`` decides master and resources.
    ``home`` and ``lake`` are :class:`~leadscore_core.settings.HomeSettings`' (``LEADSCORE_HOME``)."""

    spark_master: str = "local[*]"
    """Master used when not launched by spark-submit (``LEADSCORE_SPARK_MASTER``)."""
    spark_shuffle_partitions: int = Field(4, gt=0)
    """``spark.sql.shuffle.partitions`` for local runs (``LEADSCORE_SPARK_SHUFFLE_PARTITIONS``)."""
    spark_driver_memory: str = "auto"
    """Driver (= executor, locally) heap (``LEADSCORE_SPARK_DRIVER_MEMORY``, e.g. ``6g``). ``auto``: a third
    of the machine's memory, between 2g and 8g (1M generated leads need more than 3g; docs/benchmarks.md)."""
