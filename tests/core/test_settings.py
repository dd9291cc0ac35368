"""Settings defined once: the CRM DSN has one name (the outcome job's old name still read)."""

from __future__ import annotations

import pytest

from leadscore_core.settings import CrmSettings


def test_crm_dsn_one_name_and_the_old_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LEADSCORE_CRM_DSN", "MONITOR_CRM_DSN", "CRM_DSN"):
        monkeypatch.delenv(var, raising=False)
    assert CrmSettings().crm_dsn.startswith("postgresql://")
    assert CrmSettings(crm_dsn="postgresql://given/db").crm_dsn == "postgresql://given/db"
    monkeypatch.setenv("CRM_DSN", "postgresql://unprefixed/db")  # not a name of ours
    assert "unprefixed" not in CrmSettings().crm_dsn
    monkeypatch.setenv("MONITOR_CRM_DSN", "postgresql://old/db")
    assert CrmSettings().crm_dsn == "postgresql://old/db"
    monkeypatch.setenv("LEADSCORE_CRM_DSN", "postgresql://new/db")
    assert CrmSettings().crm_dsn == "postgresql://new/db"
