"""End to end from a real PostgreSQL CRM: counts, watermark, quarantine, dedupe, point in time, versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from leadscore.crm.db import CrmSettings, connect
from leadscore.crm.load import load_dir
from leadscore.datagen.generate import GenerateConfig, generate
from leadscore.lakehouse.job import run
from leadscore_core.contract import load_spec

pytestmark = [pytest.mark.spark, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def runs(
    spark: SparkSession, lake_raw: Path, lake_crm_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Load the CRM, run twice, then load 300 more leads and run a third time."""
    lake = tmp_path_factory.mktemp("lake")
    spec = load_spec("crm_freezone")
    settings = CrmSettings(crm_dsn=lake_crm_dsn)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_CRM_DSN", lake_crm_dsn)
        with connect(settings) as conn:
            load_dir(conn, spec, lake_raw, replace=True)
        first = run("crm_freezone", "crm", None, lake)
        second = run("crm_freezone", "crm", None, lake)
        more = tmp_path_factory.mktemp("more_raw")
        # later leads: their updated_at is past the watermark, as new CRM changes are
        generate(GenerateConfig(rows=300, seed=22, out=more, start="2027-01-01"))
        with connect(settings) as conn:
            load_dir(conn, spec, more)
        third = run("crm_freezone", "crm", None, lake)
    yield {
        "lake": lake,
        "first": first,
        "second": second,
        "third": third,
        "manifest": json.loads((lake_raw / "manifest.json").read_text()),
        "more": json.loads((more / "manifest.json").read_text()),
    }


def test_first_run_counts_match_the_injected_dirt(runs: dict[str, Any]) -> None:
    r, m = runs["first"], runs["manifest"]
    c = r.counts
    assert r.reconciled
    assert c["bronze/crm_leads"].rows_in == m["lead_lines"]
    assert c["bronze/crm_leads"].quarantined == m["expected"]["quarantined_leads"]
    assert c["silver/leads"].duplicates == m["expected"]["duplicates"]
    assert c["gold/lead_features"].rows_out == m["expected"]["gold_rows"]
    assert c["bronze/web_events"].quarantined == sum(m["malformed_events"].values())
    assert c["silver/web_events"].duplicates >= m["replayed_events"] - 10
    assert set(r.written) >= {
        "bronze/crm_leads",
        "bronze/quarantine",
        "silver/leads",
        "gold/lead_features",
        "gold/ground_truth",
    }
    assert all(v == 0 for v in r.versions.values())


def test_second_run_ingests_nothing(runs: dict[str, Any]) -> None:
    r = runs["second"]
    assert r.counts["bronze/crm_leads"].rows_in == 0
    assert r.counts["bronze/web_events"].rows_in == 0
    assert r.written == []
    assert r.versions == runs["first"].versions


def test_incremental_run_adds_only_the_new_leads_and_keeps_history(runs: dict[str, Any]) -> None:
    r, more = runs["third"], runs["more"]
    assert r.counts["bronze/crm_leads"].rows_in == more["lead_lines"]
    assert (
        r.counts["gold/lead_features"].rows_out
        == runs["manifest"]["expected"]["gold_rows"] + more["expected"]["gold_rows"]
    )
    assert r.versions["gold/lead_features"] == 1
    gold = DeltaTable(str(runs["lake"] / "gold/lead_features"))
    assert [h["version"] for h in gold.history()] == [1, 0]
    assert (
        DeltaTable(str(runs["lake"] / "gold/lead_features"), version=0).to_pyarrow_table().num_rows
        == runs["manifest"]["expected"]["gold_rows"]
    )
    stored = json.loads((runs["lake"] / "_runs" / f"{r.batch_id}.json").read_text())
    assert stored["versions"]["gold/lead_features"] == 1 and stored["reconciled"] is True


def test_quarantine_names_field_and_reason(runs: dict[str, Any]) -> None:
    q = DeltaTable(str(runs["lake"] / "bronze/quarantine"), version=0).to_pyarrow_table()
    assert set(q.column_names) >= {"_source", "_batch_id", "_ingested_at", "raw", "field", "reason"}
    reasons = "\n".join(q.column("reason").to_pylist())
    for needle in (
        "malformed CSV line: expected 24 fields",
        "visas_requested: expected a number",
        "visas_requested: -2 is below the minimum 0",
        "license_type: unknown category 'offshore'",
        "lead_id: is required",
        "created_at: not a timestamp",
        "has_existing_company: expected a boolean",
        "_raw: not a JSON object",
        "event_type: unknown event type video_play",
        "ts: not a timestamp",
        "duration_sec: not a non-negative number",
        "lead_id: is required",
    ):
        assert needle in reasons, needle
    assert all(json.loads(raw) for raw in q.column("raw").to_pylist())


def test_dedupe_keeps_the_latest_version(runs: dict[str, Any], lake_raw: Path) -> None:
    lines = (lake_raw / "leads.csv").read_text().splitlines()[1:]
    by_id: dict[str, list[list[str]]] = {}
    for ln in lines:
        parts = ln.split(",")
        by_id.setdefault(parts[0], []).append(parts)
    dup_ids = [k for k, v in by_id.items() if len(v) == 2]
    silver = DeltaTable(str(runs["lake"] / "silver/leads"), version=0).to_pyarrow_table().to_pandas()
    silver = silver.set_index("lead_id").loc[[i for i in dup_ids if i in set(silver.lead_id)]]
    assert len(silver) > 0
    for lead_id, row in silver.iterrows():
        latest = max(by_id[lead_id], key=lambda p: p[2])
        assert row["updated_ts"].strftime("%Y-%m-%dT%H:%M:%SZ") == latest[2]
        assert row["label"] == (1 if latest[3] == "true" else 0)


def test_gold_is_point_in_time_and_follows_the_contract(runs: dict[str, Any], lake_raw: Path) -> None:
    gold = DeltaTable(str(runs["lake"] / "gold/lead_features"), version=0).to_pyarrow_table()
    spec = load_spec("crm_freezone")
    assert gold.column_names == [
        "lead_id",
        "event_ts",
        "event_order",
        "label",
        "label_ts",
        *spec.feature_names,
        "_batch_id",
    ]
    assert str(gold.schema.field("event_ts").type) == "timestamp[us, tz=UTC]"
    # a timestamp spec orders by that timestamp: event_order is its epoch seconds
    ts_seconds = [t.timestamp() for t in gold.column("event_ts").to_pylist()]
    assert gold.column("event_order").to_pylist() == pytest.approx(ts_seconds)
    assert pc.all(pc.is_in(gold.column("label"), value_set=gold.column("label").unique())).as_py()
    req = {}
    for line in (lake_raw / "score_requests.jsonl").read_text().splitlines():
        r = json.loads(line)
        req[r["lead_id"]] = r
    rows = gold.select(["lead_id", "web_visits", "pricing_views", "form_completions"]).to_pylist()
    equal = 0
    for row in rows:
        want = req[row["lead_id"]]
        # malformed/orphaned event lines can only lower a count; post-conversion events must never raise it
        for name in ("web_visits", "pricing_views", "form_completions"):
            assert row[name] <= want[name], (row["lead_id"], name)
        equal += all(row[n] == want[n] for n in ("web_visits", "pricing_views", "form_completions"))
    assert equal / len(rows) > 0.95
    truth = DeltaTable(str(runs["lake"] / "gold/ground_truth"), version=0).to_pyarrow_table()
    assert truth.num_rows == gold.num_rows
