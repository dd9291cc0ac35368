"""Scheduled analysis over the Delta inference log (CLI/step functions; Argo schedules them later).

- ``daily``: PSI/KL (reference bins) and test p-values per feature for one day of logged leads.
- ``weekly``: an evidently data-drift report (HTML + JSON) for the last 7 days vs the reference
  sample, added as a run to the evidently workspace under ``$LEADSCORE_HOME/reports/evidently``
  (browse with ``evidently ui --workspace <that dir>``).
- ``hourly``: feature statistics (mean, std, missing rate, outliers) per hour of one day.

Each step prints one JSON object and writes it under ``$LEADSCORE_HOME/reports/<job>/``.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from leadscore_core.lake import INFERENCE_LOG
from leadscore_core.settings import HomeSettings

from leadscore_monitors import stats
from leadscore_monitors.detectors.base import WindowData, build_detector
from leadscore_monitors.logtable import parse_day, read_log
from leadscore_monitors.reference import Reference, load_reference


def _window(reference: Reference, table: pa.Table) -> WindowData:
    cols = {
        f: table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows
        for f in reference.features
    }
    scores = [p for p in table.column("probability").to_pylist() if p is not None] if table.num_rows else []
    return WindowData(columns=cols, scores=scores)


def daily(
    reference: Reference, uri: str, day: date, backend: str = "alibi", psi_threshold: float = 0.25
) -> dict[str, Any]:
    """PSI/KL and p-values of one day of logged traffic against the serving model's reference."""
    table = read_log(uri, day, day)
    out: dict[str, Any] = {
        "job": "daily",
        "date": day.isoformat(),
        "rows": table.num_rows,
        "model_version": reference.model_version,
    }
    if table.num_rows == 0:
        return {**out, "drifted_features": [], "features": {}}
    result = build_detector(backend, reference, psi_threshold).predict(_window(reference, table))  # type: ignore[arg-type]
    return {
        **out,
        "backend": backend,
        "drifted_features": result.drifted_features,
        "score_psi": result.score_psi,
        "features": {k: {"psi": v.psi, "kl": v.kl, "p_value": v.p_value} for k, v in result.features.items()},
    }


def hourly(reference: Reference, uri: str, day: date) -> dict[str, Any]:
    """Per hour of ``day``: count, mean/std/missing rate/outliers of numeric features, missing rate of others."""
    table = read_log(uri, day, day)
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


def weekly(reference: Reference, uri: str, end: date, workspace: Path) -> dict[str, Any]:
    """evidently DataDriftPreset (PSI) for ``end - 6 days .. end`` vs the reference sample: HTML + JSON."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    from evidently.ui.workspace import Workspace

    start = end - timedelta(days=6)
    table = read_log(uri, start, end)
    numeric = reference.numeric
    categorical = reference.categorical
    ref_df = pd.DataFrame({f: reference.sample[f] for f in reference.features})
    for f in categorical:
        ref_df[f] = [stats.as_category(v) or None for v in ref_df[f]]
    cur_df = pd.DataFrame(
        {
            f: table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows
            for f in reference.features
        }
    )
    for f in categorical:
        cur_df[f] = [stats.as_category(v) for v in cur_df[f]]
    for f in numeric:
        cur_df[f] = pd.to_numeric(cur_df[f])
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset(method="psi", threshold=0.25)])
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur_df, data_definition=definition),
        reference_data=Dataset.from_pandas(ref_df, data_definition=definition),
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
    drifted = []
    for m in json.loads(js.read_text())["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift") and isinstance(m.get("value"), int | float) and m["value"] > 0.25:
            drifted.append(cfg.get("column"))
    return {
        "job": "weekly",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows": table.num_rows,
        "html": str(html),
        "json": str(js),
        "workspace": str(workspace),
        "project_id": str(project.id),
        "drifted_features": sorted(drifted),
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
        out = daily(reference, uri, day, a.backend)
    elif a.job == "hourly":
        out = hourly(reference, uri, day)
    else:
        out = weekly(reference, uri, day, reports / "evidently")
    target = reports / a.job / f"{a.job}-{day.isoformat()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out, default=str))
