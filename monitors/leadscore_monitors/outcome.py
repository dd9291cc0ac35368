"""Outcome feedback: CRM conversions joined to logged scores by the salted lead key.

Reads the ``leads`` table of the PostgreSQL CRM (lead id, converted flag, conversion time), hashes each
lead id with :func:`leadscore_core.events.lead_key` (the only id in the log) and joins the Delta
inference log. Reports the realised AUC, the conversion rate by tier, and the business signal: the
conversion rate of the later half of the logged period fell by more than
:attr:`~leadscore_core.settings.DriftThresholds.conversion_drop_max` (``LEADSCORE_DRIFT_CONVERSION_DROP_MAX``,
default 10 %) relative to the earlier half; a signal is posted to the retrain trigger as a
``retrain.requested`` CloudEvent when ``--trigger-url`` is given.

The job is a batch step (a CronWorkflow), so nothing scrapes it. Each run posts its figures per model
version and its settled outcome counts as an ``ai.leadscore.outcome`` CloudEvent
(:class:`~leadscore_core.events.OutcomeReportEvent`, with the drop threshold it applied) to ``--report-url``
(the broker); the long-running ``outcome-metrics`` consumer stores it durably and exports ``leadscore_outcome_*``
(the threshold as ``leadscore_outcome_conversion_drop_threshold``, which the alert ``LeadConversionDrop`` compares
with) and ``leadscore_outcomes_total`` (:mod:`leadscore_monitors.outcome_metrics`). Delivery is bounded (attempts x
timeout); an undelivered report ends the job with exit code 75 after the report file is written, so Argo
retries it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.events import (
    OUTCOME_TYPE,
    RETRAIN_TYPE,
    OutcomeCount,
    OutcomeReportEvent,
    RetrainRequest,
    VersionOutcome,
    lead_key,
)
from leadscore_core.lake import INFERENCE_LOG
from leadscore_core.settings import CrmSettings, DriftThresholds, HomeSettings
from leadscore_core.stats import auc
from leadscore_core.workflows import TRANSIENT_EXIT_CODE
from psycopg import sql
from pydantic import BaseModel
from scipy.stats import chi2, norm

from leadscore_monitors.cloudevent import reply_event
from leadscore_monitors.logtable import read_log
from leadscore_monitors.settings import OutcomeSettings

log = logging.getLogger(__name__)
SOURCE = "/leadscore/monitors/outcome"
LOG_COLUMNS = ["lead_key", "probability", "tier", "event_time", "model_version"]


class OutcomeReport(BaseModel):
    """Realised model quality and the business signal."""

    logged: int
    joined: int
    conversions: int
    auc: float | None
    """Realised ROC-AUC of the logged probability vs the CRM outcome (None with one class only)."""
    conversion_rate: float | None
    conversion_by_tier: dict[str, dict[str, float]]
    earlier_rate: float | None
    later_rate: float | None
    conversion_drop: float | None
    """1 - later / earlier conversion rate (positive = fewer conversions)."""
    business_signal: bool
    calibration_p_value: float | None = None
    """:func:`calibration_p_value` of the joined leads."""
    reference_auc: float | None = None
    """Holdout AUC the serving model was trained with (``metrics.auc`` of its manifest, with --model-dir)."""
    concept_drift: bool = False
    """:func:`concept_drift`: the realised AUC fell significantly below the reference AUC."""


def auc_se(auc_value: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC estimate (Hanley & McNeil 1982)."""
    a = auc_value
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / max(n_pos * n_neg, 1)
    return float(np.sqrt(max(var, 0.0)))


def calibration_p_value(
    probability: Sequence[float] | np.ndarray, converted: Sequence[int] | np.ndarray, bins: int = 10
) -> float | None:
    """Conversions by score decile against the model's expected conversions (Hosmer-Lemeshow, external
    validation: ``bins`` degrees of freedom). Small when the realised conversion no longer follows the score."""
    p, y = np.asarray(probability, dtype=np.float64), np.asarray(converted, dtype=np.float64)
    if len(p) < 2 * bins:
        return None
    groups = np.searchsorted(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]), p)
    stat = 0.0
    for k in range(bins):
        m = groups == k
        var = float((p[m] * (1 - p[m])).sum())
        if m.any() and var > 0:
            stat += float((y[m].sum() - p[m].sum()) ** 2 / var)
    return float(chi2.sf(stat, bins))


def concept_drift(
    auc_value: float | None,
    n_pos: int,
    n_neg: int,
    reference_auc: float,
    t: DriftThresholds,
    calibration_p: float | None = None,
) -> bool:
    """The outcome path's verdict; concept drift that moves no input is seen only here.

    Judged only with at least ``outcome_min_conversions`` conversions (and as many non-conversions).
    Either test at ``alpha / 2`` (Bonferroni over the two): the realised AUC fell at least
    ``auc_drop_min`` below the reference AUC and significantly (one-sided, Hanley-McNeil), or the
    conversions by score decile no longer match the probabilities (:func:`calibration_p_value`)."""
    if auc_value is None or n_pos < t.outcome_min_conversions or n_neg < t.outcome_min_conversions:
        return False  # too few labels to judge: the window is reported, not judged
    drop = reference_auc - auc_value
    se = auc_se(auc_value, n_pos, n_neg)
    auc_fell = drop >= t.auc_drop_min and (se == 0 or float(norm.sf(drop / se)) < t.alpha / 2)
    return auc_fell or (calibration_p is not None and calibration_p < t.alpha / 2)


def latest_rows(log_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``lead_key -> row``: a lead scored several times counts once, with its latest score."""
    latest: dict[str, dict[str, Any]] = {}
    for r in log_rows:
        k = r.get("lead_key")
        if k and r.get("probability") is not None and (k not in latest or r["event_time"] > latest[k]["event_time"]):
            latest[k] = r
    return latest


def compute(
    log_rows: list[dict[str, Any]], outcomes: dict[str, bool], drop_threshold: float | None = None
) -> OutcomeReport:
    """Join logged rows (``lead_key``, ``probability``, ``tier``, ``event_time``) to outcomes by lead key.

    ``drop_threshold``: the business signal's conversion drop (default ``DriftThresholds().conversion_drop_max``).
    """
    if drop_threshold is None:
        drop_threshold = DriftThresholds().conversion_drop_max
    latest = latest_rows(log_rows)
    joined = [(r, outcomes[k]) for k, r in latest.items() if k in outcomes]
    joined.sort(key=lambda x: x[0]["event_time"])
    y = [int(c) for _, c in joined]
    by_tier: dict[str, dict[str, float]] = {}
    for r, c in joined:
        t = by_tier.setdefault(str(r.get("tier")), {"leads": 0, "conversions": 0})
        t["leads"] += 1
        t["conversions"] += int(c)
    for t in by_tier.values():
        t["rate"] = t["conversions"] / t["leads"]
    half = len(joined) // 2
    early = y[:half]
    late = y[half:]
    early_rate = float(np.mean(early)) if early else None
    late_rate = float(np.mean(late)) if late else None
    drop = 1 - late_rate / early_rate if early_rate and late_rate is not None else None
    return OutcomeReport(
        logged=len(latest),
        joined=len(joined),
        conversions=sum(y),
        auc=auc(y, [r["probability"] for r, _ in joined]) if joined else None,
        calibration_p_value=calibration_p_value([r["probability"] for r, _ in joined], y),
        conversion_rate=float(np.mean(y)) if y else None,
        conversion_by_tier=dict(sorted(by_tier.items())),
        earlier_rate=early_rate,
        later_rate=late_rate,
        conversion_drop=drop,
        business_signal=drop is not None and drop > drop_threshold,
    )


def crm_outcomes(
    dsn: str, table: str, spec: FeatureSpec, salt: str, connect_timeout: int = 10, statement_timeout_ms: int = 300_000
) -> dict[str, bool]:
    """``lead_key -> converted`` for every CRM lead (the converted column is read per the contract).

    Bounded: ``connect_timeout`` seconds for the connection and handshake, ``statement_timeout_ms`` for the
    query (server side). Raises ``psycopg.OperationalError`` (the job fails, nothing is written).
    """
    query = sql.SQL("SELECT {id}, {conv} FROM {table}").format(
        id=sql.Identifier(spec.id_column), conv=sql.Identifier(spec.target.column), table=sql.Identifier(table)
    )
    options = f"-c statement_timeout={statement_timeout_ms}"
    with psycopg.connect(dsn, connect_timeout=connect_timeout, options=options) as conn:
        rows = conn.execute(query).fetchall()
    return {lead_key(str(i), salt): spec.is_positive(c) for i, c in rows if i is not None}


def by_version(
    log_rows: list[dict[str, Any]], outcomes: dict[str, bool], drop_threshold: float | None = None
) -> list[VersionOutcome]:
    """:func:`compute` over the leads each model version scored last (``model_version`` of the latest score)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in latest_rows(log_rows).values():
        groups.setdefault(str(row.get("model_version") or "unknown"), []).append(row)
    out = []
    for version, rows in sorted(groups.items()):
        r = compute(rows, outcomes, drop_threshold)
        out.append(
            VersionOutcome(
                model_version=version,
                joined=r.joined,
                conversions=r.conversions,
                auc=r.auc,
                conversion_rate=r.conversion_rate,
                conversion_by_tier={t: v["rate"] for t, v in r.conversion_by_tier.items()},
                conversion_drop=r.conversion_drop,
            )
        )
    return out


def settled_counts(
    log_rows: list[dict[str, Any]], outcomes: dict[str, bool], now: datetime, settle_days: float
) -> list[OutcomeCount]:
    """Settled outcomes per (model version, tier, converted) over the whole log, one lead counted once.

    A lead is settled when it converted, or when its latest score is at least ``settle_days`` old without a
    conversion (before that, "not converted" only means "not yet")."""
    cutoff = now - timedelta(days=settle_days)
    cells: dict[tuple[str, str, bool], int] = {}
    for key, row in latest_rows(log_rows).items():
        if key not in outcomes:
            continue
        converted = outcomes[key]
        scored = row["event_time"] if row["event_time"].tzinfo else row["event_time"].replace(tzinfo=UTC)
        if converted or scored <= cutoff:
            cell = (str(row.get("model_version") or "unknown"), str(row.get("tier")), converted)
            cells[cell] = cells.get(cell, 0) + 1
    return [OutcomeCount(model_version=v, tier=t, converted=c, leads=n) for (v, t, c), n in sorted(cells.items())]


class ReportUndelivered(RuntimeError):
    """An event could not be delivered: ``transient`` (no answer or 5xx within the attempts) or refused (4xx)."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def post_event(url: str, ce_type: str, ce_id: str, body: dict[str, Any], attempts: int, timeout: float) -> int:
    """POST one binary-mode CloudEvent; retried (1 s, 2 s, ... apart) on a connection error or a 5xx.

    Returns the status of the accepted delivery. Raises :class:`ReportUndelivered` after ``attempts``."""
    headers, content = reply_event(ce_type, ce_id, SOURCE, body)
    last = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(2.0 ** (attempt - 1), 30.0))
        try:
            r = httpx.post(url, headers=headers, content=content, timeout=timeout)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if r.status_code < 500:
            if r.status_code >= 400:
                raise ReportUndelivered(f"{url} refused the {ce_type} event: {r.status_code} {r.text[:300]}", False)
            return r.status_code
        last = f"HTTP {r.status_code} {r.text[:200]}"
    raise ReportUndelivered(f"{ce_type} event not delivered to {url} after {attempts} attempts: {last}", True)


def _parser(s: OutcomeSettings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="leadscore_monitors outcome", description="CRM conversions vs logged scores")
    p.add_argument("--dsn", default=None, help="CRM DSN (default: LEADSCORE_CRM_DSN, see CrmSettings)")
    p.add_argument("--crm-table", default=s.crm_table)
    p.add_argument("--table-uri", default=None)
    p.add_argument("--spec", default="crm_freezone")
    p.add_argument("--trigger-url", default=None, help="retrain trigger to notify on a business signal")
    p.add_argument(
        "--report-url",
        default=s.report_url,
        help="where the report CloudEvent goes (the broker; default MONITOR_REPORT_URL; none: not sent)",
    )
    p.add_argument("--model-dir", default=None, help="serving artifact: compare the realised AUC with its holdout AUC")
    return p


def _judge_concept(report: OutcomeReport, model_dir: str) -> None:
    from leadscore_core.artifact import MANIFEST, Manifest

    manifest = Manifest.model_validate_json((Path(model_dir) / MANIFEST).read_text())
    report.reference_auc = manifest.metrics.get("auc")
    if report.reference_auc is not None:
        n_pos = report.conversions
        report.concept_drift = concept_drift(
            report.auc,
            n_pos,
            report.joined - n_pos,
            report.reference_auc,
            DriftThresholds(),
            report.calibration_p_value,
        )


def _deliver(a: argparse.Namespace, s: OutcomeSettings, report: OutcomeReport, event: OutcomeReportEvent) -> dict:
    """Post the report (and the business signal); returns the statuses. Raises :class:`ReportUndelivered`."""
    out: dict[str, Any] = {}
    if a.report_url:
        body = event.model_dump(mode="json")
        ce_id = f"outcome-{uuid.uuid4()}"
        out["report_status"] = post_event(
            a.report_url, OUTCOME_TYPE, ce_id, body, s.report_attempts, s.report_timeout_seconds
        )
    if report.business_signal and a.trigger_url:
        now = event.computed_at
        req = RetrainRequest(
            reason="business", detail=f"conversion rate fell {report.conversion_drop:.1%}", requested_at=now
        )
        out["trigger_status"] = post_event(
            a.trigger_url,
            RETRAIN_TYPE,
            f"business-{now.date().isoformat()}",
            req.model_dump(mode="json"),
            s.report_attempts,
            s.report_timeout_seconds,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    s = OutcomeSettings()
    a = _parser(s).parse_args(argv)
    home = HomeSettings()
    uri = a.table_uri or str(home.lake / INFERENCE_LOG)
    spec = load_spec(a.spec)
    rows = read_log(uri, columns=LOG_COLUMNS).to_pylist()
    outcomes = crm_outcomes(a.dsn or CrmSettings().crm_dsn, a.crm_table, spec, home.pii_salt)
    now = datetime.now(UTC)
    drop_max = DriftThresholds().conversion_drop_max
    report = compute(rows, outcomes, drop_max)
    if a.model_dir:
        _judge_concept(report, a.model_dir)
    event = OutcomeReportEvent(
        computed_at=now,
        settle_days=s.settle_days,
        business_signal=report.business_signal,
        versions=by_version(rows, outcomes, drop_max),
        counts=settled_counts(rows, outcomes, now, s.settle_days),
        conversion_drop_max=drop_max,
    )
    out: dict[str, Any] = {**report.model_dump(), "event": event.model_dump(mode="json")}
    target = home.reports / "outcome" / f"outcome-{now.date().isoformat()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        out.update(_deliver(a, s, report, event))
    except ReportUndelivered as exc:
        out["error"] = str(exc)
        target.write_text(json.dumps(out, indent=2))
        print(json.dumps(out))
        code = TRANSIENT_EXIT_CODE if exc.transient else 1
        log.error("%s (exit %d%s)", exc, code, ": Argo retries the step" if exc.transient else "")
        raise SystemExit(code) from None
    target.write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
