"""The CRM (PostgreSQL) behind faults: closed, blackholed and slow ports fail within the connect timeout
with CrmUnavailable (no traceback, no hang); a slow statement is cut by the statement timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from leadscore.crm.db import CrmSettings, CrmUnavailable, connect


def _dsn(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _fails_within(settings: CrmSettings, bound: float) -> str:
    t = time.monotonic()
    with pytest.raises(CrmUnavailable) as exc:
        connect(settings)
    assert time.monotonic() - t < bound
    return str(exc.value)


def test_closed_port_fails_at_once(free_port: int) -> None:
    msg = _fails_within(CrmSettings(crm_dsn=_dsn(free_port), crm_connect_timeout=5), 2.0)
    assert f"127.0.0.1:{free_port}" in msg


@pytest.mark.parametrize("timeout", [1, 2])
def test_blackholed_port_fails_within_the_connect_timeout(fault_server: Callable[..., Any], timeout: int) -> None:
    hole = fault_server("blackhole")
    t = time.monotonic()
    _fails_within(CrmSettings(crm_dsn=_dsn(hole.port), crm_connect_timeout=timeout), timeout + 1.5)
    assert time.monotonic() - t >= timeout * 0.9


@pytest.mark.postgres
def test_slow_server_fails_within_the_timeout_and_a_patient_client_gets_through(
    fault_server: Callable[..., Any], postgres_dsn: str
) -> None:
    parts = urlsplit(postgres_dsn)
    slow = fault_server("slow", upstream=(parts.hostname or "127.0.0.1", parts.port or 5432), delay=1.5)
    dsn = postgres_dsn.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{slow.port}")
    if dsn == postgres_dsn:
        dsn = _dsn(slow.port)
    _fails_within(CrmSettings(crm_dsn=dsn, crm_connect_timeout=1), 2.5)
    slow.delay = 0.2
    with connect(CrmSettings(crm_dsn=dsn, crm_connect_timeout=10)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.postgres
def test_a_slow_statement_is_cut_by_the_statement_timeout(postgres_dsn: str) -> None:
    with connect(CrmSettings(crm_dsn=postgres_dsn, crm_statement_timeout_ms=300)) as conn:
        t = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - t < 2.0
