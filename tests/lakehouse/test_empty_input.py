"""Empty data never passes a gate (issue 13): an export with no rows on a lake that has no gold yet fails
``gold.min_rows`` with its run record, and the same file is not remembered as ingested; a rerun over
unchanged input on a lake that has gold stays a quiet no-op. No Spark starts for an empty batch."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.datagen.exports import write_agent_export, write_web_export
from leadscore.lakehouse.job import run
from leadscore.lakehouse.quality import GateError


def _header_only(csv: Path) -> None:
    csv.write_text(csv.read_text().splitlines()[0] + "\n")


@pytest.mark.parametrize("seed", [1, 2])
def test_an_empty_export_on_a_fresh_lake_fails_the_row_gate(tmp_path: Path, seed: int) -> None:
    export = write_web_export(tmp_path / "raw", rows=50, seed=seed)
    _header_only(export.files[0])
    lake = tmp_path / "lake"
    with pytest.raises(GateError, match=r"gold\.min_rows failed: 0 rows") as err:
        run(str(export.spec_path), "csv", export.files[0], lake)
    report = err.value.report
    assert report.status == "failed" and report.failed_gate["check"] == "gold.min_rows"
    stored = json.loads((lake / "_runs" / f"{report.batch_id}.json").read_text())
    assert stored["status"] == "failed" and stored["failed_gate"] == report.failed_gate
    assert not (lake / "_state" / "files.json").exists()  # the (fixed) file is read again next time


def test_the_cli_prints_the_failed_run_as_json(tmp_path: Path) -> None:
    export = write_agent_export(tmp_path / "raw", rows=40, seed=3)
    for part in export.files[:2]:
        _header_only(part)
    result = CliRunner().invoke(
        build_app(),
        ["pipeline", "run", "--spec", str(export.spec_path), "--source", "files", str(export.directory)]
        + ["--lake", str(tmp_path / "lake"), "--json"],
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and doc["failed_gate"]["check"] == "gold.min_rows"
    assert doc["time_order"] == "latest = newest created (timestamp)"


def test_a_rerun_over_unchanged_input_on_a_lake_with_gold_is_a_no_op(tmp_path: Path) -> None:
    export = write_web_export(tmp_path / "raw", rows=50, seed=4)
    _header_only(export.files[0])
    lake = tmp_path / "lake"
    write_deltalake(str(lake / "gold/lead_features"), pa.table({"lead_id": ["a"], "label": [1]}))
    report = run(str(export.spec_path), "csv", export.files[0], lake)
    assert report.status == "ok" and "no new rows: nothing written" in report.notes
    assert report.versions["gold/lead_features"] == 0
