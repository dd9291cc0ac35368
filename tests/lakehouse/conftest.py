"""Fixtures for the medallion tests: ONE local SparkSession, a throwaway CRM database, small raw data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from leadscore.datagen.generate import GenerateConfig, generate
from leadscore.lakehouse.settings import PipelineSettings
from leadscore.lakehouse.spark import get_spark


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one session of the test run (local[2], 2 shuffle partitions)."""
    session = get_spark(PipelineSettings(spark_master="local[2]", spark_shuffle_partitions=2, spark_driver_memory="1g"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 generated leads (seed 21)."""
    out = tmp_path_factory.mktemp("lake_raw")
    generate(GenerateConfig(rows=2000, seed=21, out=out))
    return out


@pytest.fixture(scope="session")
def lake_crm_dsn(scratch_database: Callable[[str], str]) -> str:
    """DSN of a fresh CRM database, dropped at the end of the session."""
    return scratch_database("ls_test_lake")
