"""The alert rules (charts/leadscore/files/rules) pass `promtool check rules` and their unit tests,
and the chart's PrometheusRule carries exactly those rules."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from leadscore_core.settings import DriftThresholds

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "charts" / "leadscore" / "files" / "rules"
RULES = sorted(RULES_DIR.glob("*.rules.yaml"))
UNIT_TESTS = sorted((Path(__file__).parent / "promtool").glob("*.test.yaml"))

# every state issue 11 / issue 12 asks an alert for -> the alert covering it
REQUIRED = {
    "p99 latency > 200 ms": "LeadScoreHighLatencyP99",
    "5xx error rate": "LeadScoreHighErrorRate",
    "model not ready": "LeadScoreModelNotReady",
    "drift (detector verdict)": "LeadFeatureDrift",
    "window drift (drives retraining)": "LeadDriftVerdict",
    "major feature drift": "LeadFeatureDriftMajor",
    "score drift": "LeadScoreDrift",
    "reason-mix drift": "LeadReasonMixDrift",
    "bias drift": "LeadBiasDrift",
    "seasonal shift (no retrain)": "LeadSeasonalShift",
    "new category value": "LeadNewCategoryValue",
    "conversion drop above the configured threshold": "LeadConversionDrop",
    "shadow disagreement": "LeadShadowDisagreement",
    "event backlog": "LeadEventBacklog",
    "dead letters": "LeadEventsDeadLettered",
    "workflow failures": "LeadWorkflowFailed",
    "canary rollback": "LeadScoreCanaryRolledBack",
    "rate limiter storage down": "LeadScoreRateLimiterStorageDown",
    "consumer write errors": "LeadMonitorWriteErrors",
}


def all_rules() -> list[dict]:
    return [r for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


@pytest.mark.parametrize("rules", RULES, ids=[p.name for p in RULES])
def test_promtool_check_rules(promtool: str, rules: Path) -> None:
    proc = run(promtool, "check", "rules", str(rules))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_rule_file_has_unit_tests() -> None:
    tested = {(t.parent / rf).resolve() for t in UNIT_TESTS for rf in yaml.safe_load(t.read_text())["rule_files"]}
    assert {r.resolve() for r in RULES} == tested


@pytest.mark.parametrize("unit", UNIT_TESTS, ids=[p.name for p in UNIT_TESTS])
def test_promtool_unit_tests(promtool: str, unit: Path) -> None:
    proc = run(promtool, "test", "rules", unit.name, cwd=unit.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    """Each alert has at least one promtool case where it fires (exp_alerts non-empty)."""
    fired = {
        case["alertname"]
        for t in UNIT_TESTS
        for test in yaml.safe_load(t.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {r["alert"] for r in all_rules()}
    assert alerts - fired == set()


def test_a_broken_unit_test_fails(promtool: str, tmp_path: Path) -> None:
    """The wiring can fail: a wrong expectation makes promtool exit non-zero."""
    unit = UNIT_TESTS[0]
    text = unit.read_text().replace("../../../charts", str(ROOT / "charts"))
    (tmp_path / "bad.test.yaml").write_text(text.replace("severity: critical", "severity: page", 1))
    proc = run(promtool, "test", "rules", "bad.test.yaml", cwd=tmp_path)
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout + proc.stderr


def test_required_states_have_alerts() -> None:
    alerts = {r["alert"]: r for r in all_rules()}
    missing = {state: name for state, name in REQUIRED.items() if name not in alerts}
    assert not missing
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        anchor = rule["alert"].lower()
        assert rule["annotations"]["runbook_url"].endswith(f"#runbook-{anchor}")
        assert rule["annotations"]["summary"]


def test_drift_alerts_use_the_detectors_verdict_not_a_recomputed_threshold() -> None:
    """A PSI may only grade a feature the detector itself flagged (``drifted > 0 and on (...) psi``), never
    stand alone as a verdict."""
    exprs = [r["expr"] for r in all_rules()]
    joined = " ".join(exprs)
    assert "leadscore_drift_score_psi" not in joined
    assert "leadscore_drift_feature_drifted" in joined
    assert "leadscore_drift_verdict" in joined
    for expr in exprs:
        if "leadscore_drift_feature_psi" in expr:
            gate = re.search(r"\(leadscore_drift_feature_drifted > 0\)\s+and on \([^)]*feature[^)]*\)", expr)
            assert gate, f"PSI used without the detector's verdict: {expr}"


def conversion_drop_unit_test(threshold: float | None, drops: dict[str, float], firing: list[str]) -> dict:
    """A promtool unit test: one model version per drop (plus its threshold series unless ``threshold`` is None),
    expecting LeadConversionDrop to fire for exactly the ``firing`` versions (read from ``ALERTS``)."""

    def series(metric: str, v: str, value: float) -> dict[str, str]:
        return {"series": f'{metric}{{namespace="leadscore", model_version="{v}"}}', "values": f"{value}x5"}

    inputs = [series("leadscore_outcome_conversion_drop", v, d) for v, d in drops.items()]
    if threshold is not None:
        inputs += [series("leadscore_outcome_conversion_drop_threshold", v, threshold) for v in drops]
    labels = 'ALERTS{{alertname="LeadConversionDrop", alertstate="firing", model_version="{}", namespace="leadscore", '
    labels += 'severity="warning", team="ml-models"}}'
    return {
        "rule_files": [str(RULES_DIR / "model.rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [
                    {
                        "expr": 'ALERTS{alertname="LeadConversionDrop"}',
                        "eval_time": "3m",
                        "exp_samples": [{"labels": labels.format(v), "value": 1} for v in firing],
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("configured", [None, "0.2", "0.05", "0.37"])
def test_conversion_drop_alert_fires_exactly_where_the_outcome_job_signals(
    promtool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: str | None
) -> None:
    """The outcome job raises its business signal at a drop strictly above ``DriftThresholds().conversion_drop_max``
    (``LEADSCORE_DRIFT_CONVERSION_DROP_MAX`` in its pod) and exports that threshold beside the drop; the alert fires
    for the same drops. ``configured=None``: a report without the threshold (an older job), the core default."""
    if configured is None:
        monkeypatch.delenv("LEADSCORE_DRIFT_CONVERSION_DROP_MAX", raising=False)
    else:
        monkeypatch.setenv("LEADSCORE_DRIFT_CONVERSION_DROP_MAX", configured)
    threshold = DriftThresholds().conversion_drop_max
    drops = {"1": round(threshold - 0.01, 4), "2": threshold, "3": round(threshold + 0.01, 4), "4": 0.99}
    signalled = sorted(v for v, d in drops.items() if d > threshold)  # the job's rule: outcome.compute()
    assert signalled == ["3", "4"]
    unit = conversion_drop_unit_test(None if configured is None else threshold, drops, signalled)
    (tmp_path / "conversion.test.yaml").write_text(yaml.safe_dump(unit))
    proc = run(promtool, "test", "rules", "conversion.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_conversion_drop_alert_states_no_fixed_threshold() -> None:
    """The description names the configured threshold (a template), never a fixed percentage."""
    rule = next(r for r in all_rules() if r["alert"] == "LeadConversionDrop")
    description = rule["annotations"]["description"]
    assert "configured threshold" in description
    assert not re.search(r"\d\s*%", description), description


def test_every_alert_has_a_runbook_entry_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for rule in all_rules():
        assert f'<a id="runbook-{rule["alert"].lower()}"></a>' in readme, rule["alert"]


@pytest.mark.parametrize("namespace", ["leadscore", "ml-prod"])
def test_chart_prometheusrule_carries_the_rule_files(helm_template, namespace: str) -> None:
    docs = helm_template(namespace=namespace)
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    groups = [g for f in RULES for g in yaml.safe_load(f.read_text())["groups"]]
    expected = yaml.safe_dump(groups).replace('namespace="leadscore"', f'namespace="{namespace}"')
    assert yaml.safe_dump(rule["spec"]["groups"]) == expected
