"""Golden test of the Grafana dashboards (leadscore/observability/dashboards.py -> charts/leadscore/dashboards),
their structure, their provisioning through the chart, and a static check that every metric they or the
alert rules name is exported by the code (the live check is tests/monitoring/test_live_queries.py)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from leadscore.observability import dashboards

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "leadscore"
RULES = sorted((CHART / "files" / "rules").glob("*.rules.yaml"))
SOURCES = [
    *ROOT.glob("model_server/*/leadscore_*/**/*.py"),
    *ROOT.glob("monitors/leadscore_monitors/**/*.py"),
    *ROOT.glob("leadscore/delivery/**/*.py"),  # the canary analysis serves leadscore_canary_* itself
]
EXPORT_RE = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|g|CounterMetricFamily|GaugeMetricFamily)\(\s*\"(leadscore_[a-z0-9_]+)\""
)
"""A metric defined in code: prometheus_client's types, verdict_metrics.py's ``g(`` helper, or a custom collector's
metric families (outcome_metrics.py)."""
METRIC_RE = re.compile(r"\b((?:leadscore|argo_workflows)_[a-z0-9_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def committed() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(dashboards.OUT_DIR.glob("*.json"))}


def test_committed_json_is_the_generated_json() -> None:
    """Golden: regenerate with `python -m leadscore.observability.dashboards` after a change."""
    rendered = dashboards.render_all()
    assert sorted(rendered) == sorted(committed())
    for name, text in rendered.items():
        assert (dashboards.OUT_DIR / name).read_text() == text, f"{name} is stale"


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    assert dashboards.main(["--out", str(tmp_path)]) == 0
    assert dashboards.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "leadscore-serving.json").write_text("{}\n")
    assert dashboards.main(["--check", "--out", str(tmp_path)]) == 1


def test_the_six_dashboards_and_their_topics() -> None:
    boards = committed()
    assert set(boards) == {
        f"leadscore-{n}.json" for n in ("serving", "model", "drift", "business", "shadow", "pipelines")
    }
    text = {n: json.dumps(b) for n, b in boards.items()}
    for name, needles in {
        "leadscore-serving.json": (
            "leadscore_requests_total",
            "histogram_quantile(0.99",
            'status=~\\"5..\\"',
            "revision",
        ),
        "leadscore-model.json": (
            "leadscore_score_bucket",
            "leadscore_tier_total",
            "Top reason codes",
            "leadscore_drift_reason_share",
            "leadscore_drift_reason_reference_share",
        ),
        "leadscore-drift.json": (
            "feature_psi",
            "feature_kl",
            "p_value",
            "missing_rate",
            "outliers",
            "leadscore_drift_verdict",
            "leadscore_drift_feature_p_adjusted",
            "leadscore_drift_feature_psi_threshold",
            "leadscore_drift_feature_seasonal_drift",
            "leadscore_drift_new_value",
            "leadscore_bias_tier_a_ratio_change",
            "leadscore_bias_mean_score_gap_change",
            "leadscore_bias_group_leads",
            "leadscore_bias_drifted",
        ),
        "leadscore-business.json": ("conversion_rate", "leadscore_outcome_auc"),
        "leadscore-shadow.json": ("leadscore_shadow_spearman", "tier_agreement"),
        "leadscore-pipelines.json": ("argo_workflows_total_count", "leadscore_retrain_requests_total"),
    }.items():
        for needle in needles:
            assert needle in text[name], f"{name} lacks {needle}"


@pytest.mark.parametrize("name", sorted(committed()))
def test_dashboard_structure(name: str) -> None:
    board = committed()[name]
    assert board["uid"] == name.removesuffix(".json")
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in board["panels"]:
        g = p["gridPos"]
        cell = (g["x"], g["y"])
        assert cell not in cells, f"{p['title']} overlaps"
        cells.add(cell)
        if p["type"] != "text":
            assert p["targets"], p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "namespace"}


def _exported_metric_names() -> set[str]:
    names: set[str] = set()
    for src in SOURCES:
        for m in EXPORT_RE.finditer(src.read_text()):
            kind, name = m.groups()
            names.add(name.removesuffix("_total"))
    return names


def _base(metric: str) -> str:
    for suffix in SUFFIXES:
        if metric.endswith(suffix):
            return metric.removesuffix(suffix)
    return metric


def _used_metrics() -> set[str]:
    exprs = [e for b in committed().values() for e in dashboards.queries(b)]
    exprs += [r["expr"] for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    return {m for e in exprs for m in METRIC_RE.findall(e)}


def test_every_metric_is_exported_by_code_or_listed_as_pending() -> None:
    exported = _exported_metric_names()
    assert {
        "leadscore_requests",
        "leadscore_drift_feature_drifted",
        "leadscore_shadow_spearman",
        "leadscore_outcome_auc",
        "leadscore_outcomes",
        "leadscore_canary_rollbacks",
    } <= exported
    unknown = {
        m
        for m in _used_metrics()
        if not m.startswith("argo_workflows_") and _base(m) not in exported and m not in dashboards.PENDING_METRICS
    }
    assert not unknown, f"metrics no code exports (misspelt?): {sorted(unknown)}"


def test_the_canary_analysis_reads_only_exported_metrics() -> None:
    """leadscore/delivery/checks.py queries Prometheus too; its KPI once read a counter nothing exported."""
    tree = ast.parse((ROOT / "leadscore" / "delivery" / "checks.py").read_text())
    # metric names live in the PromQL strings (f-string parts included), not in imports or docstrings that name
    # the package leadscore_core
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    strings = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]
    used = {m for text in strings for m in METRIC_RE.findall(text)}
    assert "leadscore_outcomes_total" in used and "leadscore_requests_total" in used
    exported = _exported_metric_names()
    assert not {m for m in used if _base(m) not in exported}, sorted(used)


def test_pending_metrics_are_used_and_really_missing() -> None:
    """The pending list stays honest: drop an entry once its code exports the metric."""
    exported = _exported_metric_names()
    used = _used_metrics()
    for metric in dashboards.PENDING_METRICS:
        assert metric in used, f"{metric} is pending but no panel or rule uses it"
        assert _base(metric) not in exported, f"{metric} is exported now: remove it from PENDING_METRICS"


def test_chart_provisions_each_dashboard_for_the_grafana_sidecar() -> None:
    helm = ROOT / ".tools" / "bin" / "helm"
    if not helm.exists():
        pytest.fail("helm not found: `make envs` installs it", pytrace=False)
    proc = subprocess.run(
        [str(helm), "template", "x", str(CHART)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    maps = [
        d
        for d in yaml.safe_load_all(proc.stdout)
        if d and d["kind"] == "ConfigMap" and "dashboard" in d["metadata"]["name"]
    ]
    assert len(maps) == len(committed())
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, body),) = cm["data"].items()
        assert json.loads(body) == committed()[name]
