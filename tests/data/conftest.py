"""Fixtures for the data platform tests: a small generated data set and a throwaway CRM database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from leadscore.datagen.generate import GenerateConfig, generate


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 leads, seed 11 (no drift)."""
    out = tmp_path_factory.mktemp("raw")
    generate(GenerateConfig(rows=2000, seed=11, out=out))
    return out


@pytest.fixture(scope="session")
def crm_dsn(scratch_database: Callable[[str], str]) -> str:
    """DSN of a fresh database, dropped at the end of the session."""
    return scratch_database("ls_test_data")
