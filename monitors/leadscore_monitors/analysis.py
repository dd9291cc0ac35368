"""Scheduled analysis over the Delta inference log (CLI/step functions; Argo schedules them later).

- ``daily``: the drift verdict (:mod:`leadscore_monitors.verdict`) over one day of logged leads: PSI/KL
  on the reference bins, test p-values, corrected p-values, new values, seasonal features.
- ``weekly``: the same verdict over the last 7 days, plus an evidently data-drift report (HTML + JSON)
  vs the reference sample, added as a run to the evidently workspace under
  ``$LEADSCORE_HOME/reports/evidently`` (browse with ``evidently ui --workspace <that dir>``). The
  report is a picture: which features drift is the project's verdict, never evidently's own binning.
- ``hourly``: feature statistics (mean, std, missing rate, outliers) per hour of one day.

Each step prints one JSON object and writes it under ``$LEADSCORE_HOME/reports/<job>/``. An empty
window is an answer, not an error: every job then reports ``rows: 0`` and no drift.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from leadscore_core.lake import INFERENCE_LOG
from leadscore_core.settings import DriftThresholds, HomeSettings

from leadscore_monitors import stats
from leadscore_monitors.detectors.base import WindowData, build_detector
from leadscore_monitors.logtable import parse_day, read_log
from leadscore_monitors.reference import Reference, load_reference


def _read(uri: str, start: date, end: date) -> pa.Table:
    """The logged rows of ``start..end``; no inference log yet is an empty window, not an error."""
    try:
        return read_log(uri, start, end)
    except FileNotFoundError:
        return pa.table({"date": pa.array([], pa.string())})


def _window(reference: Reference, table: pa.Table) -> WindowData:
    cols = {
        f: table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows
        for f in reference.features
    }
    probs = table.column("probability").to_pylist() if "probability" in table.column_names else []
    window = WindowData(columns=cols, scores=[p for p in probs if p is not None])
    if probs:
        window.row_scores = np.asarray([np.nan if p is None else p for p in probs], dtype=np.float64)
        if "tier" in table.column_names:
            window.row_tiers = table.column("tier").to_pylist()
        if "reasons" in table.column_names:
            window.row_reasons = [_top_reason(r) for r in table.column("reasons").to_pylist()]
    return window


def _top_reason(raw: str | None) -> str | None:
    try:
        reasons = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return None
    first = reasons[0] if isinstance(reasons, list) and reasons else None
    return str(first["feature"]) if isinstance(first, dict) and first.get("feature") else None


def verdict(
    reference: Reference, table: pa.Table, backend: str = "alibi", thresholds: DriftThresholds | None = None
) -> dict[str, Any]:
    """The drift verdict of the logged rows in ``table`` (``rows: 0`` and no drift when it is empty)."""
    out: dict[str, Any] = {"rows": table.num_rows, "model_version": reference.model_version}
    empty = {"is_drift": False, "drifted_features": [], "seasonal_drift": [], "new_values": {}, "features": {}}
    if table.num_rows == 0:
        return {**out, **empty}
    result = build_detector(backend, reference, thresholds).predict(_window(reference, table))  # type: ignore[arg-type]
    return {
        **out,
        "backend": backend,
        "is_drift": result.is_drift,
        "drifted_features": result.drifted_features,
        "seasonal_drift": result.seasonal_drift,
        "new_values": result.new_values,
        "score_psi": result.score_psi,
        "features": {
            k: {"psi": v.psi, "kl": v.kl, "p_value": v.p_value, "p_adjusted": v.p_adjusted, "threshold": v.threshold}
            for k, v in result.features.items()
        },
    }


def daily(
    reference: Reference, uri: str, day: date, backend: str = "alibi", thresholds: DriftThresholds | None = None
) -> dict[str, Any]:
    """The drift verdict of one day of logged traffic against the serving model's reference."""
    table = _read(uri, day, day)
    return {"job": "daily", "date": day.isoformat(), **verdict(reference, table, backend, thresholds)}


def hourly(reference: Reference, uri: str, day: date) -> dict[str, Any]:
    """Per hour of ``day``: count, mean/std/missing rate/outliers of numeric features, missing rate of others."""
    table = _read(uri, day, day)
    hours: dict[str, Any] = {}
    if table.num_rows:
        hour = pc.hour(table.column("event_time")).to_pylist()
        for h in sorted(set(hour)):
            part = table.filter(pa.array([x == h for x in hour]))
            feats: dict[str, Any] = {}
            for name in reference.features:
                values = part.column(name).to_pylist() if name in part.column_names else []
                if name in reference.drift.numeric:
                    feats[name] = stats.numeric_stats(reference.drift.numeric[name], values).model_dump()
                else:
                    feats[name] = {"missing_rate": stats.missing_rate(values)}
            hours[f"{h:02d}"] = {"rows": part.num_rows, "features": feats}
    return {"job": "hourly", "date": day.isoformat(), "rows": table.num_rows, "hours": hours}


def weekly(
    reference: Reference, uri: str, end: date, workspace: Path, thresholds: DriftThresholds | None = None
) -> dict[str, Any]:
    """The verdict for ``end - 6 days .. end``, and an evidently DataDriftPreset report (HTML + JSON) of it."""
    start = end - timedelta(days=6)
    table = _read(uri, start, end)
    out = {"job": "weekly", "start": start.isoformat(), "end": end.isoformat()}
    out.update(verdict(reference, table, "alibi", thresholds))
    if table.num_rows == 0:
        return out
    return {**out, **_evidently_report(reference, table, end, workspace)}


def _evidently_report(reference: Reference, table: pa.Table, end: date, workspace: Path) -> dict[str, Any]:
    """evidently's HTML/JSON picture of the window; columns without any value in it are left out."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    from evidently.ui.workspace import Workspace

    ref_df = pd.DataFrame({f: reference.sample[f] for f in reference.features})
    cur_df = pd.DataFrame(
        {
            f: table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows
            for f in reference.features
        }
    )
    for f in reference.categorical:
        ref_df[f] = [stats.as_category(v) or None for v in ref_df[f]]
        cur_df[f] = [stats.as_category(v) for v in cur_df[f]]
    for f in reference.numeric:
        cur_df[f] = pd.to_numeric(cur_df[f])
    shown = [f for f in reference.features if cur_df[f].notna().any() and ref_df[f].notna().any()]
    if not shown:
        return {"report": None, "not_reported": reference.features}
    definition = DataDefinition(
        numerical_columns=[f for f in reference.numeric if f in shown],
        categorical_columns=[f for f in reference.categorical if f in shown],
    )
    report = Report([DataDriftPreset(method="psi", threshold=DriftThresholds().psi_categorical)])
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur_df[shown], data_definition=definition),
        reference_data=Dataset.from_pandas(ref_df[shown], data_definition=definition),
    )
    out_dir = workspace.parent / "weekly"
    out_dir.mkdir(parents=True, exist_ok=True)
    html, js = out_dir / f"drift-{end.isoformat()}.html", out_dir / f"drift-{end.isoformat()}.json"
    snapshot.save_html(str(html))
    snapshot.save_json(str(js))
    ws = Workspace.create(str(workspace))
    projects = [p for p in ws.list_projects() if p.name == "leadscore"]
    project = projects[0] if projects else ws.create_project("leadscore")
    ws.add_run(project.id, snapshot)
    return {
        "html": str(html),
        "json": str(js),
        "workspace": str(workspace),
        "project_id": str(project.id),
        "not_reported": [f for f in reference.features if f not in shown],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="leadscore_monitors analyze", description="scheduled inference-log analysis")
    p.add_argument("job", choices=["daily", "weekly", "hourly"])
    p.add_argument("--model-dir", required=True, type=Path)
    p.add_argument("--table-uri", default=None)
    p.add_argument("--date", default=None, help="YYYY-MM-DD (default: yesterday; weekly: the week ending then)")
    p.add_argument("--backend", choices=["alibi", "evidently"], default="alibi")
    a = p.parse_args(argv)
    home = HomeSettings()
    uri = a.table_uri or str(home.lake / INFERENCE_LOG)
    reference = load_reference(a.model_dir)
    day = parse_day(a.date)
    reports = home.reports
    if a.job == "daily":
        out = daily(reference, uri, day, a.backend, DriftThresholds())
    elif a.job == "hourly":
        out = hourly(reference, uri, day)
    else:
        out = weekly(reference, uri, day, reports / "evidently", DriftThresholds())
    target = reports / a.job / f"{a.job}-{day.isoformat()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out, default=str))
