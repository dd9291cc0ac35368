"""Outcome feedback: CRM conversions joined to logged scores by the salted lead key.

Reads the ``leads`` table of the PostgreSQL CRM (lead id, converted flag, conversion time), hashes each
lead id with :func:`leadscore_core.events.lead_key` (the only id in the log) and joins the Delta
inference log. Reports the realised AUC, the conversion rate by tier, and the business signal: the
conversion rate of the later half of the logged period fell by more than ``drop_threshold`` (default
10 %) relative to the earlier half; a signal is posted to the retrain trigger as a
``retrain.requested`` CloudEvent when ``--trigger-url`` is given.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from leadscore_core.contract import FeatureSpec, load_spec
from leadscore_core.events import RETRAIN_TYPE, RetrainRequest, lead_key
from leadscore_core.lake import INFERENCE_LOG
from leadscore_core.settings import CrmSettings, DriftThresholds, HomeSettings
from leadscore_core.stats import auc
from psycopg import sql
from pydantic import BaseModel
from scipy.stats import chi2, norm

from leadscore_monitors.cloudevent import reply_event
from leadscore_monitors.logtable import read_log
from leadscore_monitors.settings import OutcomeSettings


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


def calibration_p_value(probability: Sequence[float], converted: Sequence[int], bins: int = 10) -> float | None:
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


def compute(log_rows: list[dict[str, Any]], outcomes: dict[str, bool], drop_threshold: float = 0.10) -> OutcomeReport:
    """Join logged rows (``lead_key``, ``probability``, ``tier``, ``event_time``) to outcomes by lead key."""
    latest: dict[str, dict[str, Any]] = {}
    for r in log_rows:  # a lead scored several times counts once, with its latest score
        k = r.get("lead_key")
        if k and r.get("probability") is not None and (k not in latest or r["event_time"] > latest[k]["event_time"]):
            latest[k] = r
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


def main(argv: list[str] | None = None) -> None:
    s = OutcomeSettings()
    p = argparse.ArgumentParser(prog="leadscore_monitors outcome", description="CRM conversions vs logged scores")
    p.add_argument("--dsn", default=None, help="CRM DSN (default: LEADSCORE_CRM_DSN, see CrmSettings)")
    p.add_argument("--crm-table", default=s.crm_table)
    p.add_argument("--table-uri", default=None)
    p.add_argument("--spec", default="crm_freezone")
    p.add_argument("--trigger-url", default=None, help="retrain trigger to notify on a business signal")
    p.add_argument("--model-dir", default=None, help="serving artifact: compare the realised AUC with its holdout AUC")
    a = p.parse_args(argv)
    home = HomeSettings()
    uri = a.table_uri or str(home.lake / INFERENCE_LOG)
    spec = load_spec(a.spec)
    rows = read_log(uri, columns=["lead_key", "probability", "tier", "event_time"]).to_pylist()
    report = compute(
        rows, crm_outcomes(a.dsn or CrmSettings().crm_dsn, a.crm_table, spec, home.pii_salt), s.drop_threshold
    )
    if a.model_dir:
        from leadscore_core.artifact import MANIFEST, Manifest

        manifest = Manifest.model_validate_json((Path(a.model_dir) / MANIFEST).read_text())
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
    out = report.model_dump()
    if report.business_signal and a.trigger_url:
        now = datetime.now(UTC)
        req = RetrainRequest(
            reason="business", detail=f"conversion rate fell {report.conversion_drop:.1%}", requested_at=now
        )
        headers, body = reply_event(
            RETRAIN_TYPE,
            f"business-{now.date().isoformat()}",
            "/leadscore/monitors/outcome",
            req.model_dump(mode="json"),
        )
        out["trigger_status"] = httpx.post(a.trigger_url, headers=headers, content=body, timeout=10).status_code
    target = home.reports / "outcome" / f"outcome-{datetime.now(UTC).date().isoformat()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
