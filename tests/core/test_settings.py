"""Settings defined once: the CRM DSN has one name (the outcome job's old name still read); the canary and
shadow thresholds are read from their own prefixes, and refuse values that cannot be thresholds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leadscore_core.settings import CanaryThresholds, CrmSettings, ShadowCriteria


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


@pytest.mark.parametrize(
    ("cls", "env", "field", "value", "expected"),
    [
        (CanaryThresholds, "LEADSCORE_CANARY_MAX_P99_S", "max_p99_s", "0.35", 0.35),
        (CanaryThresholds, "LEADSCORE_CANARY_MIN_REQUESTS", "min_requests", "40", 40),
        (CanaryThresholds, "LEADSCORE_CANARY_TOP_TIERS", "top_tiers", '["A"]', ("A",)),
        (ShadowCriteria, "LEADSCORE_SHADOW_MIN_DAYS", "min_days", "0.5", 0.5),
        (ShadowCriteria, "LEADSCORE_SHADOW_MIN_SPEARMAN", "min_spearman", "0.8", 0.8),
    ],
)
def test_thresholds_come_from_their_own_prefix(
    monkeypatch: pytest.MonkeyPatch, cls: type, env: str, field: str, value: str, expected: object
) -> None:
    default = getattr(cls(), field)
    monkeypatch.setenv(field.upper(), value)
    monkeypatch.setenv(f"LEADSCORE_DRIFT_{field.upper()}", value)
    assert getattr(cls(), field) == default  # neither the bare name nor another class's prefix is read
    monkeypatch.setenv(env, value)
    assert getattr(cls(), field) == expected != default


@pytest.mark.parametrize(
    ("cls", "field", "bad"),
    [
        (CanaryThresholds, "min_success_rate", 1.5),
        (CanaryThresholds, "max_psi", 0),
        (CanaryThresholds, "min_requests", 0),
        (ShadowCriteria, "min_top_decile_overlap", 1.2),
        (ShadowCriteria, "min_days", -1),
    ],
)
def test_impossible_thresholds_are_refused_by_name(cls: type, field: str, bad: float) -> None:
    with pytest.raises(ValidationError, match=field):
        cls(**{field: bad})
