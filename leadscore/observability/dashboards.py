"""Grafana dashboards of leadscore, built with grafana-foundation-sdk; JSON committed under
charts/leadscore/dashboards/ (one ConfigMap each, loaded by the Grafana dashboard sidecar).

``python -m leadscore.observability.dashboards``          rewrite the JSON files
``python -m leadscore.observability.dashboards --check``  exit 1 when a committed file differs (golden test)

Every query names only metrics the servers and consumers export (model_server/, monitors/, the canary
analysis in leadscore/delivery/) or that Argo Workflows' controller exports (``argo_workflows_*``);
tests/monitoring/test_live_queries.py runs each one against a real Prometheus scraping the real local
servers. Metrics another change still has to add are listed in :data:`PENDING_METRICS`, with the owner
(none today).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, text, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, VariableRefresh

OUT_DIR = Path(__file__).resolve().parents[2] / "charts" / "leadscore" / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
RI = "$__rate_interval"

PENDING_METRICS: dict[str, str] = {}
"""Metrics a panel or rule uses that no code exports yet -> who must add them."""


@dataclass(frozen=True)
class Query:
    """One PromQL target and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A time series (``ts``), stat (``stat``) or note (``text``) panel."""

    title: str
    queries: tuple[Query, ...] = ()
    unit: str = "short"
    kind: str = "ts"
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class Board:
    """A dashboard: uid (also the JSON file name), title, description and panels in reading order."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default=())


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


def _quantiles(metric: str, by: str, selector: str = NS) -> tuple[Query, ...]:
    return tuple(
        q(
            f"histogram_quantile({p}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RI}])))",
            f"p{int(p * 100)} {{{{{by}}}}}",
        )
        for p in (0.5, 0.95, 0.99)
    )


def serving() -> Board:
    return Board(
        "leadscore-serving",
        "leadscore / Serving",
        "CRM /score-lead as the kserve transformer sees it, by revision (production and canary).",
        (
            Panel(
                "Requests per second by revision",
                (q(f"sum by (revision) (rate(leadscore_requests_total{{{NS}}}[{RI}]))", "{{revision}}"),),
                "reqps",
            ),
            Panel(
                "Latency p50 / p95 / p99 by revision", _quantiles("leadscore_request_duration_seconds", "revision"), "s"
            ),
            Panel(
                "5xx error ratio by revision",
                (
                    q(
                        f'sum by (revision) (rate(leadscore_requests_total{{{NS}, status=~"5.."}}[{RI}])) '
                        f"/ sum by (revision) (rate(leadscore_requests_total{{{NS}}}[{RI}]))",
                        "{{revision}}",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Responses by status and revision",
                (
                    q(
                        f"sum by (revision, status) (rate(leadscore_requests_total{{{NS}}}[{RI}]))",
                        "{{revision}} {{status}}",
                    ),
                ),
                "reqps",
            ),
            Panel(
                "Stage latency p95 (parse, predict, ...)",
                (
                    q(
                        "histogram_quantile(0.95, sum by (stage, le) "
                        f"(rate(leadscore_stage_duration_seconds_bucket{{{NS}}}[{RI}])))",
                        "{{stage}}",
                    ),
                ),
                "s",
            ),
            Panel(
                "Ready (1) per server",
                (q(f"min by (pod, component) (leadscore_ready{{{NS}}})", "{{component}} {{pod}}"),),
                "short",
            ),
            Panel(
                "Rate limiter: checks failed open (Redis unreachable)",
                (
                    q(
                        f"sum by (revision) (rate(leadscore_rate_limit_storage_errors_total{{{NS}}}[{RI}]))",
                        "{{revision}}",
                    ),
                ),
                "ops",
                description="The limiter fails OPEN: these requests were served without a limit check.",
            ),
            Panel(
                "Refused fields (422) by field",
                (q(f"sum by (field) (rate(leadscore_field_rejections_total{{{NS}}}[{RI}]))", "{{field}}"),),
                "ops",
            ),
        ),
    )


def model() -> Board:
    return Board(
        "leadscore-model",
        "leadscore / Model",
        "What the served model answers: scores, tiers, input quality, model versions.",
        (
            Panel(
                "Score distribution (p10 / p50 / p90) by revision",
                tuple(
                    q(
                        f"histogram_quantile({p}, sum by (revision, le) (rate(leadscore_score_bucket{{{NS}}}[{RI}])))",
                        f"p{int(p * 100)} {{{{revision}}}}",
                    )
                    for p in (0.1, 0.5, 0.9)
                ),
            ),
            Panel(
                "Tier share by revision",
                (
                    q(
                        f"sum by (revision, tier) (rate(leadscore_tier_total{{{NS}}}[{RI}])) "
                        f"/ ignoring (tier) group_left sum by (revision) (rate(leadscore_tier_total{{{NS}}}[{RI}]))",
                        "{{revision}} {{tier}}",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Leads scored per second",
                (q(f"sum by (revision) (rate(leadscore_leads_scored_total{{{NS}}}[{RI}]))", "{{revision}}"),),
                "ops",
            ),
            Panel(
                "Missing feature values per second",
                (q(f"sum by (feature) (rate(leadscore_feature_missing_total{{{NS}}}[{RI}]))", "{{feature}}"),),
                "ops",
            ),
            Panel(
                "Unknown categories per second",
                (q(f"sum by (feature) (rate(leadscore_feature_unknown_category_total{{{NS}}}[{RI}]))", "{{feature}}"),),
                "ops",
            ),
            Panel(
                "Model version per revision",
                (
                    q(
                        f"max by (revision, model_name, model_version) (leadscore_model_info{{{NS}}})",
                        "{{revision}} v{{model_version}}",
                    ),
                ),
                kind="stat",
            ),
            Panel(
                "Top reason codes: window vs reference share",
                (
                    q(
                        f"max by (model_version, feature) (leadscore_drift_reason_share{{{NS}}})",
                        "{{feature}} window v{{model_version}}",
                    ),
                    q(
                        f"max by (model_version, feature) (leadscore_drift_reason_reference_share{{{NS}}})",
                        "{{feature}} reference v{{model_version}}",
                    ),
                ),
                "percentunit",
                description="Share of leads whose top reason is each feature, last drift window vs the reference.",
            ),
            Panel(
                "Reason-mix PSI and verdict",
                (
                    q(f"max by (model_version) (leadscore_drift_reason_psi{{{NS}}})", "PSI v{{model_version}}"),
                    q(
                        f"max by (model_version) (leadscore_drift_reason_drifted{{{NS}}})",
                        "drifted v{{model_version}}",
                    ),
                ),
            ),
        ),
    )


def drift() -> Board:
    by = "feature, model_version"
    return Board(
        "leadscore-drift",
        "leadscore / Drift",
        "The drift detector's last window vs the serving model's reference, per feature.",
        (
            Panel("PSI per feature", (q(f"max by ({by}) (leadscore_drift_feature_psi{{{NS}}})", "{{feature}}"),)),
            Panel(
                "KL divergence per feature", (q(f"max by ({by}) (leadscore_drift_feature_kl{{{NS}}})", "{{feature}}"),)
            ),
            Panel(
                "Test p-value per feature",
                (q(f"min by ({by}) (leadscore_drift_feature_p_value{{{NS}}})", "{{feature}}"),),
            ),
            Panel(
                "Drifted features (detector verdict)",
                (q(f"sum by (model_version) (leadscore_drift_feature_drifted{{{NS}}})", "v{{model_version}}"),),
                kind="stat",
            ),
            Panel(
                "Missing rate per feature",
                (q(f"max by ({by}) (leadscore_drift_feature_missing_rate{{{NS}}})", "{{feature}}"),),
                "percentunit",
            ),
            Panel(
                "Outliers per feature",
                (q(f"sum by ({by}, method) (leadscore_drift_feature_outliers{{{NS}}})", "{{feature}} {{method}}"),),
            ),
            Panel(
                "Score distribution PSI and multivariate verdict",
                (
                    q(f"max by (model_version) (leadscore_drift_score_psi{{{NS}}})", "score PSI v{{model_version}}"),
                    q(
                        f"max by (model_version) (leadscore_drift_multivariate{{{NS}}})",
                        "multivariate drift v{{model_version}}",
                    ),
                ),
            ),
            *_verdict_panels(by),
            *_bias_panels(),
            Panel(
                "Windows judged and leads in the open window",
                (
                    q(
                        f"sum by (drift) (increase(leadscore_drift_windows_total{{{NS}}}[1h]))",
                        "windows drift={{drift}}",
                    ),
                    q(
                        f"max by (model_version) (leadscore_drift_window_leads{{{NS}}})",
                        "open window v{{model_version}}",
                    ),
                ),
            ),
        ),
    )


def _verdict_panels(by: str) -> tuple[Panel, ...]:
    """The window verdict and what it is made of: corrected p-values, PSI floors, seasonal and new values."""
    return (
        Panel(
            "Window verdict (drives retraining)",
            (
                q(f"max by (model_version) (leadscore_drift_verdict{{{NS}}})", "window v{{model_version}}"),
                q(f"max by (model_version) (leadscore_drift_score_drifted{{{NS}}})", "score v{{model_version}}"),
            ),
            kind="stat",
        ),
        Panel(
            "Adjusted p-value per feature (Holm/BH)",
            (q(f"min by ({by}) (leadscore_drift_feature_p_adjusted{{{NS}}})", "{{feature}}"),),
        ),
        Panel(
            "PSI floor per feature",
            (q(f"max by ({by}) (leadscore_drift_feature_psi_threshold{{{NS}}})", "{{feature}}"),),
        ),
        Panel(
            "Seasonal shift per feature (no retrain)",
            (q(f"max by ({by}) (leadscore_drift_feature_seasonal_drift{{{NS}}})", "{{feature}}"),),
        ),
        Panel(
            "New category values",
            (
                q(
                    f"max by (model_version, feature, value) (leadscore_drift_new_value{{{NS}}})",
                    "{{feature}}={{value}}",
                ),
            ),
            kind="stat",
        ),
    )


def _bias_panels() -> tuple[Panel, ...]:
    """Parity of each sensitive group, window vs reference."""
    by = "model_version, attribute, group"
    legend = "{{attribute}}={{group}}"
    return (
        Panel(
            "Bias: tier-A ratio change (window / reference)",
            (q(f"max by ({by}) (leadscore_bias_tier_a_ratio_change{{{NS}}})", legend),),
        ),
        Panel(
            "Bias: mean score gap change (window - reference)",
            (q(f"max by ({by}) (leadscore_bias_mean_score_gap_change{{{NS}}})", legend),),
        ),
        Panel(
            "Bias: leads per group in the window", (q(f"max by ({by}) (leadscore_bias_group_leads{{{NS}}})", legend),)
        ),
        Panel("Bias: drifted groups", (q(f"max by ({by}) (leadscore_bias_drifted{{{NS}}})", legend),), kind="stat"),
    )


def business() -> Board:
    return Board(
        "leadscore-business",
        "leadscore / Business",
        "Realised quality from CRM outcomes: the nightly outcome job joins conversions to logged scores and "
        "the outcome-metrics consumer exports its newest report, per model version that scored the leads.",
        (
            Panel(
                "Conversion rate by tier",
                (
                    q(
                        f"max by (tier, model_version) (leadscore_outcome_conversion_rate{{{NS}}})",
                        "{{tier}} v{{model_version}}",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Realised AUC", (q(f"max by (model_version) (leadscore_outcome_auc{{{NS}}})", "v{{model_version}}"),)
            ),
            Panel(
                "Conversion drop (later vs earlier half) and its alert threshold",
                (
                    q(f"max by (model_version) (leadscore_outcome_conversion_drop{{{NS}}})", "v{{model_version}}"),
                    q(
                        f"max by (model_version) (leadscore_outcome_conversion_drop_threshold{{{NS}}})",
                        "threshold v{{model_version}}",
                    ),
                ),
                "percentunit",
                description="LeadConversionDrop fires above the threshold the outcome job applied "
                "(LEADSCORE_DRIFT_CONVERSION_DROP_MAX; no threshold line: a report without it, the core default).",
            ),
            Panel(
                "Leads scored per tier (last 24h)",
                (q(f"sum by (tier) (increase(leadscore_tier_total{{{NS}}}[24h]))", "{{tier}}"),),
                kind="stat",
            ),
            Panel(
                "Settled outcomes (last 24h) by version, tier and conversion",
                (
                    q(
                        f"sum by (model_version, tier, converted) (increase(leadscore_outcomes_total{{{NS}}}[24h]))",
                        "v{{model_version}} {{tier}} converted={{converted}}",
                    ),
                ),
                description="What the canary analysis' conversion KPI reads (leadscore_outcomes_total).",
            ),
            Panel(
                "Age of the newest outcome report",
                (q(f"time() - max(leadscore_outcome_report_timestamp_seconds{{{NS}}})", "age"),),
                "s",
                kind="stat",
                description="The outcome job runs nightly; older than a day means its CronWorkflow did not deliver.",
            ),
        ),
    )


def shadow() -> Board:
    by = "shadow_version"
    return Board(
        "leadscore-shadow",
        "leadscore / Shadow agreement",
        "The challenger scored on production traffic, compared with production per window.",
        (
            Panel(
                "Spearman correlation",
                (q(f"min by ({by}) (leadscore_shadow_spearman{{{NS}}})", "v{{shadow_version}}"),),
            ),
            Panel(
                "Tier agreement",
                (q(f"min by ({by}) (leadscore_shadow_tier_agreement{{{NS}}})", "v{{shadow_version}}"),),
                "percentunit",
            ),
            Panel(
                "Top-decile overlap",
                (q(f"min by ({by}) (leadscore_shadow_top_decile_overlap{{{NS}}})", "v{{shadow_version}}"),),
                "percentunit",
            ),
            Panel(
                "Mean |shadow - production|",
                (q(f"max by ({by}) (leadscore_shadow_mean_abs_diff{{{NS}}})", "v{{shadow_version}}"),),
            ),
            Panel("|shadow - production| p50 / p95 / p99", _quantiles("leadscore_shadow_score_abs_diff", by)),
            Panel(
                "Production tier -> shadow tier",
                (
                    q(
                        "sum by (production_tier, shadow_tier) "
                        f"(increase(leadscore_shadow_tier_pairs_total{{{NS}}}[1h]))",
                        "{{production_tier}} -> {{shadow_tier}}",
                    ),
                ),
            ),
        ),
    )


def pipelines() -> Board:
    argo_ns = 'namespace=~"$namespace"'
    return Board(
        "leadscore-pipelines",
        "leadscore / Pipelines and workflows",
        "Payload logging consumers, retrain decisions, and the Argo workflows (controller metrics).",
        (
            Panel(
                "Events by consumer and outcome",
                (
                    q(
                        f"sum by (component, outcome) (rate(leadscore_monitor_events_total{{{NS}}}[{RI}]))",
                        "{{component}} {{outcome}}",
                    ),
                ),
                "ops",
            ),
            Panel(
                "Rejected events by consumer and kind",
                (
                    q(
                        f"sum by (component, kind) (rate(leadscore_monitor_events_rejected_total{{{NS}}}[{RI}]))",
                        "{{component}} {{kind}}",
                    ),
                ),
                "ops",
            ),
            Panel(
                "Dead-lettered events (last hour)",
                (
                    q(
                        f'sum(increase(leadscore_monitor_events_total{{{NS}, component="event-dead-letter", '
                        f'outcome="recorded"}}[1h]))',
                        "dead letters",
                    ),
                ),
                kind="stat",
            ),
            Panel(
                "Inference-log backlog",
                (
                    q(f"max(leadscore_inference_log_unjoined{{{NS}}})", "unjoined halves"),
                    q(f"max(leadscore_inference_log_staged_rows{{{NS}}})", "staged rows"),
                    q(
                        f"sum by (joined) (rate(leadscore_inference_log_rows_total{{{NS}}}[{RI}]))",
                        "rows/s joined={{joined}}",
                    ),
                ),
            ),
            Panel(
                "Retrain requests by reason and decision",
                (
                    q(
                        f"sum by (reason, decision) (increase(leadscore_retrain_requests_total{{{NS}}}[1h]))",
                        "{{reason}} {{decision}}",
                    ),
                ),
            ),
            Panel(
                "Drift events emitted",
                (
                    q(
                        f"sum by (model_version) (increase(leadscore_drift_events_emitted_total{{{NS}}}[1h]))",
                        "v{{model_version}}",
                    ),
                ),
            ),
            Panel(
                "Workflows by phase (Argo)",
                (q(f"sum by (phase) (increase(argo_workflows_total_count{{{argo_ns}}}[1h]))", "{{phase}}"),),
            ),
            Panel(
                "CronWorkflows triggered (Argo)",
                (
                    q(
                        f"sum by (name) (increase(argo_workflows_cronworkflows_triggered_total{{{argo_ns}}}[24h]))",
                        "{{name}}",
                    ),
                ),
            ),
        ),
    )


BOARDS = (serving, model, drift, business, shadow, pipelines)


def _panel(p: Panel, pid: int, x: int, y: int) -> Any:
    builder: Any
    if p.kind == "text":
        builder = text.Panel().content(f"**{p.title}**\n\n{p.description}")
    else:
        builder = (stat.Panel() if p.kind == "stat" else timeseries.Panel()).unit(p.unit).datasource(DS)
        for i, query in enumerate(p.queries):
            target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(chr(ord("A") + i))
            builder = builder.with_target(target.datasource(DS))
        if p.description:
            builder = builder.description(p.description)
    return builder.id(pid).title(p.title).grid_pos(GridPos(h=8, w=p.width, x=x, y=y))


def build(board: Board) -> dict[str, Any]:
    """The dashboard JSON model of ``board``."""
    d = (
        gd.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(["leadscore"])
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            gd.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DS)
            .query("label_values(leadscore_ready, namespace)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
        )
    )
    x = y = 0
    for i, panel in enumerate(board.panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        d = d.with_panel(_panel(panel, i, x, y))
        x += panel.width
    out: dict[str, Any] = json.loads(json.dumps(d.build(), cls=JSONEncoder))
    return out


def render_all() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{b.uid}.json": json.dumps(build(b), indent=2, sort_keys=True) + "\n" for b in (f() for f in BOARDS)}


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard JSON model (panel targets and query variables)."""
    exprs = [t["expr"] for p in dashboard.get("panels", []) for t in p.get("targets", []) if t.get("expr")]
    return exprs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write (or --check) the committed Grafana dashboard JSON.")
    ap.add_argument("--check", action="store_true", help="exit 1 when a committed file differs")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    files = render_all()
    stale = [n for n, t in files.items() if not (args.out / n).exists() or (args.out / n).read_text() != t]
    extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in files) if args.out.exists() else []
    if args.check:
        if stale or extra:
            print(f"dashboards out of date: {stale + extra}; run python -m leadscore.observability.dashboards")
            return 1
        print(f"dashboards: {len(files)} up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(files[name])
    for name in extra:
        (args.out / name).unlink()
    print(f"dashboards: wrote {len(stale)} of {len(files)}, removed {len(extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
