"""Shadow exit criteria (``leadscore canary shadow-check``): may the shadow version start its canary?

* long enough in shadow (``min_days``, seed: 1-2 weeks), from the version's lifecycle history;
* agreement with production, from the shadow scorer's ``leadscore_shadow_*`` gauges (monitors/shadow.py):
  Spearman, top-decile overlap and tier agreement above their floors (too low means something is broken,
  not that the shadow is better);
* once enough outcomes exist: realized AUC on the logged leads with known outcomes, the shadow (re-scored
  from the Delta inference log) against the champion (the probabilities it served), shadow >= champion -
  ``auc_tolerance``.

``ready`` only when every criterion passes; ``pending`` while something is still being waited for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from leadscore.delivery.checks import Check
from leadscore.delivery.prom import Prometheus, PrometheusUnavailable
from leadscore.registry.lifecycle import Transition
from leadscore_core.artifact import LeadScorer
from leadscore_core.settings import ShadowCriteria
from leadscore_core.stats import auc


@dataclass
class ShadowVerdict:
    status: str
    """ready | pending | not_ready"""
    checks: list[Check] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement_checks(prom: Prometheus, shadow_version: int, at: float, c: ShadowCriteria) -> list[Check]:
    floors = {
        "leadscore_shadow_spearman": c.min_spearman,
        "leadscore_shadow_top_decile_overlap": c.min_top_decile_overlap,
        "leadscore_shadow_tier_agreement": c.min_tier_agreement,
    }
    out = []
    for name, floor in floors.items():
        try:
            value = prom.scalar(f'max({name}{{shadow_version="{int(shadow_version)}"}})', at)
        except PrometheusUnavailable as exc:
            out.append(Check(name, "wait", f"Prometheus unavailable: {str(exc)[:200]}"))
            continue
        if value is None:
            out.append(Check(name, "wait", f"no {name} for shadow v{shadow_version} yet"))
        else:
            out.append(Check(name, "pass" if value >= floor else "fail", f"{value:.3f} (floor {floor})"))
    return out


def shadow_since(history: Sequence[Transition]) -> str | None:
    """When the version last entered shadow; evidence recorded within shadow (the approved replay) does not
    restart the count."""
    return next((h.at for h in reversed(history) if h.to_state == "shadow" and h.moved), None)


def days_check(shadow_since: str | None, now: datetime, c: ShadowCriteria) -> Check:
    if not shadow_since:
        return Check("days_in_shadow", "fail", "the version never entered shadow")
    since = datetime.strptime(shadow_since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    days = (now - since).total_seconds() / 86400
    return Check("days_in_shadow", "pass" if days >= c.min_days else "wait", f"{days:.1f} days (need {c.min_days})")


def auc_check(
    log: Mapping[str, list[Any]], outcomes: Mapping[str, bool], shadow: LeadScorer, c: ShadowCriteria
) -> Check:
    """Realized AUC of shadow vs champion on logged leads whose outcome is known."""
    idx = [i for i, k in enumerate(log["lead_key"]) if k in outcomes]
    y = np.array([int(outcomes[log["lead_key"][i]]) for i in idx])
    if len(idx) < c.min_outcomes or y.min(initial=1) == y.max(initial=0):
        return Check(
            "realized_auc", "wait", f"{len(idx)} logged leads with outcomes (need {c.min_outcomes}, both classes)"
        )
    assert shadow.encoder is not None
    names = shadow.spec.feature_names
    x = shadow.encoder.encode_records([{n: log[n][i] for n in names} for i in idx])
    shadow_auc = auc(y, shadow.score(x).probability)
    champion_auc = auc(y, np.array([log["probability"][i] for i in idx], dtype=float))
    assert shadow_auc is not None and champion_auc is not None  # both classes are present (checked above)
    ok = shadow_auc >= champion_auc - c.auc_tolerance
    detail = f"shadow {shadow_auc:.4f} vs champion {champion_auc:.4f} on {len(idx)} outcomes"
    return Check("realized_auc", "pass" if ok else "fail", detail)


def verdict(checks: list[Check]) -> ShadowVerdict:
    if any(c.status == "fail" for c in checks):
        return ShadowVerdict("not_ready", checks)
    if any(c.status == "wait" for c in checks):
        return ShadowVerdict("pending", checks)
    return ShadowVerdict("ready", checks)


def crm_outcomes(dsn: str, table: str, spec: Any, salt: str) -> dict[str, bool]:
    """``lead_key -> converted`` for every CRM lead (PostgreSQL, bounded connect)."""
    import psycopg
    from psycopg import sql

    from leadscore_core.events import lead_key

    query = sql.SQL("SELECT {id}, {conv} FROM {table}").format(
        id=sql.Identifier(spec.id_column), conv=sql.Identifier(spec.target.column), table=sql.Identifier(table)
    )
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute(query).fetchall()
    return {lead_key(str(i), salt): bool(spec.is_positive(c)) for i, c in rows if i is not None}
