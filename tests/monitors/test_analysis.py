"""Scheduled analysis over a real Delta inference log: daily PSI/KL, hourly stats, weekly evidently report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from leadscore_monitors.analysis import daily, hourly, weekly
from leadscore_monitors.reference import load_reference
from leadscore_monitors.testkit.logs import write_log
from leadscore_monitors.testkit.synth import make_records


def test_daily_hourly_weekly(artifact: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "inference_log")
    write_log(
        tmp_path,
        artifact,
        uri,
        [
            (datetime(2026, 3, 1, 9, tzinfo=UTC), make_records(250, 41)),
            (datetime(2026, 3, 1, 15, tzinfo=UTC), make_records(150, 42)),
            (datetime(2026, 3, 2, 10, tzinfo=UTC), make_records(400, 43, "source_mix")),
        ],
    )
    ref = load_reference(artifact)
    calm = daily(ref, uri, date(2026, 3, 1))
    assert calm["rows"] == 400 and calm["drifted_features"] == []
    shifted = daily(ref, uri, date(2026, 3, 2))
    assert shifted["rows"] == 400 and shifted["drifted_features"] == ["lead_source"]
    assert shifted["features"]["lead_source"]["psi"] > 0.25 and shifted["features"]["lead_source"]["kl"] > 0
    hours = hourly(ref, uri, date(2026, 3, 1))["hours"]
    assert {h: v["rows"] for h, v in hours.items()} == {"09": 250, "15": 150}
    assert hours["09"]["features"]["web_visits"]["mean"] > 0
    week = weekly(ref, uri, date(2026, 3, 2), tmp_path / "reports" / "evidently")
    assert week["rows"] == 800
    assert Path(week["html"]).stat().st_size > 10_000
    assert json.loads(Path(week["json"]).read_text())["metrics"]
    assert (tmp_path / "reports" / "evidently").is_dir()


def test_every_job_answers_an_empty_window(artifact: Path, tmp_path: Path) -> None:
    """No row in the window (and no log at all) is ``rows: 0``, exit 0, for daily, weekly and hourly."""
    import os
    import subprocess
    import sys

    uri = str(tmp_path / "inference_log")
    write_log(tmp_path, artifact, uri, [(datetime(2026, 3, 1, 9, tzinfo=UTC), make_records(30, 44))])
    env = {**os.environ, "LEADSCORE_HOME": str(tmp_path / "home")}
    for table in (uri, str(tmp_path / "no_log_yet")):
        for job in ("hourly", "daily", "weekly"):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "leadscore_monitors",
                    "analyze",
                    job,
                    "--model-dir",
                    str(artifact),
                    "--table-uri",
                    table,
                    "--date",
                    "2026-05-01",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            assert out["rows"] == 0 and out["job"] == job
            assert out.get("drifted_features", []) == []


def test_tiny_window_is_judged_like_any_other(artifact: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "inference_log")
    records = make_records(3, 45)
    for r in records:
        r["days_since_first_contact"] = None  # a column with no value at all in the window
    write_log(tmp_path, artifact, uri, [(datetime(2026, 3, 1, 9, tzinfo=UTC), records)])
    ref = load_reference(artifact)
    week = weekly(ref, uri, date(2026, 3, 2), tmp_path / "reports" / "evidently")
    assert week["rows"] == 3 and week["is_drift"] in (True, False)
    assert "days_since_first_contact" in week["not_reported"]
    assert daily(ref, uri, date(2026, 3, 1))["rows"] == 3
