"""Pipeline from files (no PostgreSQL) and from a historical CSV; point in time, gates, --json shape."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.datagen.generate import GenerateConfig, generate
from leadscore.lakehouse.job import run
from leadscore.lakehouse.quality import GateError
from leadscore_core.contract import load_spec
from leadscore_core.lake import GOLD_FEATURES, spec_record
from training.gold import read_gold

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(lead: str, ts: datetime, etype: str, n: int) -> str:
    return (
        json.dumps(
            {
                "event_id": f"T-{n}",
                "lead_id": lead,
                "ts": _iso(ts),
                "event_type": etype,
                "duration_sec": 10,
                "page": "pricing",
            }
        )
        + "\n"
    )


def test_point_in_time_cutoff_and_json_output(spark: SparkSession, tmp_path: Path) -> None:
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    generate(GenerateConfig(rows=150, seed=5, out=raw, bad_event_rate=0.0, orphan_event_rate=0.0))
    with open(raw / "leads.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    latest: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["lead_id"] and r["lead_id"] not in latest or r["updated_at"] > latest[r["lead_id"]]["updated_at"]:
            latest[r["lead_id"]] = r
    conv = next(
        r
        for r in latest.values()
        if r["converted"] == "true"
        and r["license_type"] != "offshore"
        and r["visas_requested"] not in ("three", "-2")
        and r["has_existing_company"] != "maybe"
    )
    open_ = next(
        r
        for r in latest.values()
        if r["converted"] == "false"
        and r["license_type"] != "offshore"
        and r["visas_requested"] not in ("three", "-2")
        and r["has_existing_company"] != "maybe"
    )
    req = {json.loads(ln)["lead_id"]: json.loads(ln) for ln in (raw / "score_requests.jsonl").read_text().splitlines()}
    t_conv = datetime.fromisoformat(conv["converted_at"].replace("Z", "+00:00"))
    window_end = datetime.fromisoformat(open_["created_at"].replace("Z", "+00:00")) + timedelta(days=30)
    with open(raw / "web_events.jsonl", "a") as fh:
        fh.write(_event(conv["lead_id"], t_conv - timedelta(seconds=1), "pricing_view", 1))  # counted
        fh.write(_event(conv["lead_id"], t_conv, "pricing_view", 2))  # at conversion: no
        fh.write(_event(conv["lead_id"], t_conv + timedelta(hours=1), "payment_portal", 3))  # after: no
        fh.write(_event(conv["lead_id"], t_conv + timedelta(days=1), "pricing_view", 4))  # after: no
        fh.write(_event(open_["lead_id"], window_end - timedelta(seconds=1), "page_view", 5))  # counted
        fh.write(_event(open_["lead_id"], window_end, "page_view", 6))  # window end: no

    app = build_app()
    result = CliRunner().invoke(app, ["pipeline", "run", "--source", "files", str(raw), "--lake", str(lake), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert set(report) >= {"batch_id", "counts", "versions", "reconciled"}
    for layer in ("bronze/crm_leads", "bronze/web_events", "silver/leads", "silver/web_events", "gold/lead_features"):
        assert set(report["counts"][layer]) >= {"in", "out", "quarantined", "duplicates"}
    assert report["versions"]["gold/lead_features"] == 0 and report["reconciled"] is True

    gold = {r["lead_id"]: r for r in DeltaTable(str(lake / "gold/lead_features")).to_pyarrow_table().to_pylist()}
    assert gold[conv["lead_id"]]["pricing_views"] == req[conv["lead_id"]]["pricing_views"] + 1
    assert gold[open_["lead_id"]]["web_visits"] == req[open_["lead_id"]]["web_visits"] + 1
    assert gold[conv["lead_id"]]["label"] == 1 and gold[open_["lead_id"]]["label"] == 0
    # every medallion commit records the spec it was built with: training reads it back (and nothing else)
    record = spec_record(DeltaTable(str(lake / GOLD_FEATURES)).history()[0], "gold")
    assert record.spec == load_spec("crm_freezone") and record.fingerprint == record.spec.fingerprint()
    assert read_gold(lake).spec_fingerprint == record.fingerprint

    again = CliRunner().invoke(app, ["pipeline", "run", "--source", "files", str(raw), "--lake", str(lake), "--json"])
    assert again.exit_code == 0, again.output
    rerun = json.loads(again.stdout)
    assert rerun["counts"]["bronze/crm_leads"]["in"] == 0 and rerun["written"] == []


def test_quarantine_rate_gate_fails_the_run_and_writes_only_the_quarantine(spark: SparkSession, tmp_path: Path) -> None:
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    generate(GenerateConfig(rows=150, seed=6, out=raw, malformed_rate=0.35))
    with pytest.raises(GateError, match=r"bronze\.leads\.quarantine_rate") as failed:
        run("crm_freezone", "files", raw, lake)
    assert not (lake / "gold").exists() and not (lake / "bronze/crm_leads").exists()
    assert DeltaTable(str(lake / "bronze/quarantine")).to_pyarrow_table().num_rows > 0
    assert failed.value.report.status == "failed" and failed.value.report.top_reasons
    assert not (lake / "_state" / "files.json").exists()  # the next run retries the same files


def test_bank_marketing_csv_builds_gold(spark: SparkSession, tmp_path: Path, shared_dir: Path) -> None:
    src = shared_dir / "data" / "bank-marketing" / "bank-additional-full.csv"
    if not src.is_file():
        pytest.skip(f"{src} not present")
    sample = tmp_path / "bank.csv"
    with open(src) as fh:
        lines = fh.readlines()
    kept = [lines[0], *lines[1::13]]  # every 13th row: all campaign periods (pdays is mostly 999 early on)
    sample.write_text("".join(kept))
    report = run("bank_marketing", "csv", sample, tmp_path / "lake")
    spec = load_spec("bank_marketing")
    assert report.reconciled and report.counts["gold/lead_features"].rows_out == len(kept) - 1
    gold = DeltaTable(str(tmp_path / "lake" / "gold/lead_features")).to_pyarrow_table()
    assert gold.column_names == [
        "lead_id",
        "event_ts",
        "event_order",
        "label",
        "label_ts",
        *spec.feature_names,
        "_batch_id",
    ]
    assert "duration" not in gold.column_names
    first = gold.sort_by("lead_id").slice(0, 2).to_pylist()
    assert first[0]["lead_id"] == "row-0000001"
    assert first[1]["event_order"] - first[0]["event_order"] == 1  # consecutive lines of the sample file
    assert first[0]["event_ts"] is None
    assert set(gold.column("label").to_pylist()) <= {0, 1}
