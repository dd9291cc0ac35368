"""Fixtures for the medallion tests: ONE local SparkSession, a throwaway CRM database, small raw data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pyspark.sql import SparkSession

from training.data.generate import GenerateConfig, generate
from training.lakehouse.settings import PipelineSettings
from training.lakehouse.spark import get_spark


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one session of the test run (local[2], 2 shuffle partitions)."""
    session = get_spark(PipelineSettings(spark_master="local[2]", spark_shuffle_partitions=2,
                                         spark_driver_memory="1g"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 generated leads (seed 21)."""
    out = tmp_path_factory.mktemp("lake_raw")
    generate(GenerateConfig(rows=2000, seed=21, out=out))
    return out


@pytest.fixture(scope="session")
def lake_crm_dsn(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh CRM database, dropped at the end of the session."""
    name = f"ls_test_lake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
