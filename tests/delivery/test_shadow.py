"""Shadow exit criteria: agreement gauges from a real Prometheus, days in shadow, realized AUC vs champion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.delivery import shadow as sh
from leadscore.delivery.prom import Prometheus
from leadscore_core.artifact import LeadScorer
from leadscore_core.contract import load_spec
from leadscore_core.settings import ShadowCriteria
from leadscore_core.validation import check_record


@pytest.mark.parametrize(("version", "status"), [(2, "pass"), (3, "fail"), (9, "wait")])
def test_agreement_from_the_shadow_gauges(prometheus, version: int, status: str) -> None:  # noqa: ANN001
    at = prometheus["starts"]["healthy"] + 3600
    checks = sh.agreement_checks(Prometheus(prometheus["url"]), version, at, ShadowCriteria())
    assert [c.name for c in checks] == [
        "leadscore_shadow_spearman",
        "leadscore_shadow_top_decile_overlap",
        "leadscore_shadow_tier_agreement",
    ]
    assert {c.status for c in checks} == {status}
    if version == 2:
        assert checks[0].detail.startswith("0.930")


def test_days_in_shadow() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    crit = ShadowCriteria(min_days=7)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    assert sh.days_check((now - timedelta(days=8)).strftime(fmt), now, crit).status == "pass"
    assert sh.days_check((now - timedelta(days=2)).strftime(fmt), now, crit).status == "wait"
    assert sh.days_check(None, now, crit).status == "fail"


def _logged(tiny_artifacts: list[Path], n: int, seed: int) -> tuple[dict, dict[str, bool], LeadScorer]:
    from leadscore_core import testkit as tiny

    spec = load_spec("crm_freezone")
    records = [r.values for r in (check_record(spec, raw) for raw in tiny.random_leads(spec, n, seed)) if r.ok]
    champion, shadow = LeadScorer(tiny_artifacts[0]).load(), LeadScorer(tiny_artifacts[1]).load()
    assert champion.encoder is not None
    served = champion.score(champion.encoder.encode_records(records)).probability
    log = {f.name: [r[f.name] for r in records] for f in spec.features}
    log["lead_key"] = [f"k{i}" for i in range(len(records))]
    log["probability"] = served.tolist()
    rng = np.random.default_rng(seed)
    outcomes = {f"k{i}": bool(rng.random() < p) for i, p in enumerate(served) if i % 2 == 0}  # half are known
    return log, outcomes, shadow


@pytest.mark.parametrize("seed", [3, 4])
def test_realized_auc_compares_shadow_with_what_the_champion_served(tiny_artifacts: list[Path], seed: int) -> None:
    log, outcomes, shadow = _logged(tiny_artifacts, 900, seed)
    check = sh.auc_check(log, outcomes, shadow, ShadowCriteria(min_outcomes=100))
    idx = [i for i, k in enumerate(log["lead_key"]) if k in outcomes]
    y = np.array([outcomes[log["lead_key"][i]] for i in idx], dtype=int)
    champion_auc = roc_auc_score(y, [log["probability"][i] for i in idx])
    assert f"champion {champion_auc:.4f} on {len(idx)} outcomes" in check.detail
    shadow_auc = float(check.detail.split()[1])
    assert check.status == ("pass" if shadow_auc >= champion_auc - 0.005 else "fail")
    few = sh.auc_check(log, outcomes, shadow, ShadowCriteria(min_outcomes=10_000))
    assert few.status == "wait" and "need 10000" in few.detail


def test_verdict_needs_every_criterion() -> None:
    ok = sh.Check("a", "pass", "")
    assert sh.verdict([ok, ok]).status == "ready"
    assert sh.verdict([ok, sh.Check("b", "wait", "")]).status == "pending"
    assert sh.verdict([sh.Check("b", "wait", ""), sh.Check("c", "fail", "")]).status == "not_ready"


def test_shadow_check_cli_just_promoted_is_pending(store: Path, prometheus, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LEADSCORE_DELIVERY_PROMETHEUS_URL", prometheus["url"])
    res = CliRunner().invoke(build_app(), ["canary", "shadow-check", "--json"])
    assert res.exit_code == 6, res.output
    doc = json.loads(res.stdout)
    assert doc["model_version"] == 2 and doc["status"] == "pending"
    by = {c["name"]: c["status"] for c in doc["checks"]}
    assert by["days_in_shadow"] == "wait" and by["realized_auc"] == "wait"
