"""Scheduled analysis over a real Delta inference log: daily PSI/KL, hourly stats, weekly evidently report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from logfixture import write_log
from synth import make_records

from leadscore_monitors.analysis import daily, hourly, weekly
from leadscore_monitors.reference import load_reference


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
