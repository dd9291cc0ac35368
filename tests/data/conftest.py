"""Fixtures for the data platform tests: a small generated data set and a throwaway CRM database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from training.data.generate import GenerateConfig, generate


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 leads, seed 11 (no drift)."""
    out = tmp_path_factory.mktemp("raw")
    generate(GenerateConfig(rows=2000, seed=11, out=out))
    return out


@pytest.fixture(scope="session")
def crm_dsn(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh database, dropped at the end of the session."""
    name = f"ls_test_data_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
