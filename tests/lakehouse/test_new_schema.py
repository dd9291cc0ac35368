"""A new lead schema is one file (issue 13), on exports shaped like the ones users bring
(:mod:`leadscore.datagen.exports`): time order from an integer column of a newest-first file, learned and
case-folded vocabularies with placeholder tokens, several input files with the label in its own file, gate
failures that explain themselves, and a train run that says which column defined "latest"."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.datagen.exports import write_agent_export, write_web_export
from leadscore.lakehouse.job import run
from leadscore.lakehouse.quality import GateError
from leadscore_core.contract import load_spec

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]


def _gold(lake: Path) -> list[dict[str, Any]]:
    return DeltaTable(str(lake / "gold/lead_features")).to_pyarrow_table().to_pylist()


@pytest.mark.parametrize("seed", [1, 2])
def test_web_export_orders_by_lead_number_and_learns_folded_values(
    spark: SparkSession, tmp_path: Path, seed: int
) -> None:
    export = write_web_export(tmp_path / "raw", rows=400 + 100 * seed, seed=seed)
    report = run(str(export.spec_path), "csv", export.files[0], tmp_path / "lake")
    assert report.status == "ok" and report.reconciled
    assert report.time_order == "latest = largest lead_number (order_by: lead_number, direction: ascending)"
    gold = _gold(tmp_path / "lake")
    with open(export.files[0], newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert int(raw[0]["Lead Number"]) > int(raw[-1]["Lead Number"])  # the file is newest first
    by_id = {r["lead_id"]: r for r in gold}
    assert len(by_id) == len(raw)
    for row in raw[:50]:
        g = by_id[row["Lead Number"]]
        assert g["event_order"] == float(row["Lead Number"])
        assert g["event_ts"] is None  # no date is made up
        assert g["lead_source"] == row["Lead Source"].casefold()
        assert g["do_not_email"] is (row["Do Not Email"] == "Yes")
        assert g["specialization"] == (None if row["Specialization"] == "Select" else row["Specialization"].casefold())
    assert {r["lead_source"] for r in gold} >= {"google"} and "Google" not in {r["lead_source"] for r in gold}


def test_several_files_and_a_label_file_make_one_run(spark: SparkSession, tmp_path: Path) -> None:
    export = write_agent_export(tmp_path / "raw", rows=600, seed=3)
    labels = export.directory / "labels.csv"
    lines = labels.read_text().splitlines()
    dropped = lines[1].split(",")[0]
    labels.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # one lead has no label now
    report = run(str(export.spec_path), "files", export.directory, tmp_path / "lake")
    assert report.counts["bronze/crm_leads"].rows_in == 600
    assert report.counts["bronze/crm_leads"].quarantined == 1
    gold = _gold(tmp_path / "lake")
    assert len(gold) == 599 and dropped not in {r["lead_id"] for r in gold}
    assert len({r["agent_id"] for r in gold}) > 150  # the high-cardinality column arrives intact
    truth = {f"P-{i:06d}": p for i, p in enumerate(export.true_probability)}
    y = np.array([r["label"] for r in gold])
    p = np.array([truth[r["lead_id"]] for r in gold])
    assert abs(y.mean() - p.mean()) < 0.06  # the labels joined to the right leads
    quarantine = DeltaTable(str(tmp_path / "lake/bronze/quarantine")).to_pyarrow_table().to_pylist()
    assert quarantine[0]["reason"] == "converted: is required (no label for this id in labels.csv)"
    assert json.loads(quarantine[0]["raw"])["_file"] in ("leads_part1.csv", "leads_part2.csv")
    again = run(str(export.spec_path), "files", export.directory, tmp_path / "lake")
    assert again.counts["bronze/crm_leads"].rows_in == 0  # the same files are not ingested twice


def test_failed_gate_writes_quarantine_and_run_record_and_explains(spark: SparkSession, tmp_path: Path) -> None:
    export = write_web_export(tmp_path / "raw", rows=300, seed=4)
    spec = tmp_path / "dated.yaml"  # claims an ISO timestamp where the export has a lead number
    spec.write_text(
        export.spec_path.read_text()
        .replace("  order_by: lead_number\n", "  timestamp: lead_number\n")
        .replace("  direction: ascending      # a larger lead number is a newer lead, whatever the file order\n", "")
    )
    lake = tmp_path / "lake"
    result = CliRunner().invoke(
        build_app(),
        [
            "pipeline",
            "run",
            "--source",
            "csv",
            str(export.files[0]),
            "--spec",
            str(spec),
            "--lake",
            str(lake),
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert report["failed_gate"]["check"] == "bronze.leads.quarantine_rate"
    assert report["failed_gate"]["detail"].startswith("300/300 rows quarantined")
    top = report["top_reasons"][0]
    assert top["reason"] == "lead_number: not a timestamp (ISO 8601 date or date-time): <value>"
    assert top["count"] == 300 and len(top["examples"]) == 3
    assert "Lead_Number" in json.loads(top["examples"][0])  # raw rows as the lake stores them
    assert len(report["top_reasons"]) <= 5
    quarantine = DeltaTable(str(lake / "bronze/quarantine")).to_pyarrow_table()
    assert quarantine.num_rows == 300
    assert not (lake / "gold").exists() and not (lake / "bronze/crm_leads").exists()
    assert not (lake / "_state" / "files.json").exists()  # the fixed rerun ingests the file again
    stored = json.loads((lake / "_runs" / f"{report['batch_id']}.json").read_text())
    assert stored["failed_gate"] == report["failed_gate"] and stored["top_reasons"] == report["top_reasons"]
    with pytest.raises(GateError, match=r"top reasons: lead_number: not a timestamp"):
        run(str(spec), "csv", export.files[0], tmp_path / "lake2")


def test_gates_on_empty_data_fail(spark: SparkSession) -> None:
    from leadscore.lakehouse import quality
    from leadscore.lakehouse.gold import gold_columns

    spec = load_spec("bank_marketing").model_copy(
        update={"quality": load_spec("bank_marketing").quality.model_copy(update={"min_rows": 0})}
    )
    schema = ", ".join(f"`{c}` string" for c in gold_columns(spec) if c not in spec.feature_names)
    schema += ", " + ", ".join(f"`{f.name}` {'double' if f.type == 'numeric' else 'string'}" for f in spec.features)
    empty = spark.createDataFrame([], schema).withColumn(
        "label", __import__("pyspark.sql.functions", fromlist=["lit"]).lit(0)
    )
    nulls = [g for g in quality.table_gates(empty, spec, "gold", spec.feature_names) if "null_rate" in g.check]
    assert nulls and not any(g.ok for g in nulls)
    rows = next(g for g in quality.gold_gates(empty, spec, 0) if g.check == "gold.min_rows")
    assert not rows.ok and "empty" in rows.detail
    assert not quality.quarantine_rate("bronze.leads", 0, 0, spec).ok
