"""Bad input at the pipeline CLI: clear one-line errors, exit 1, no traceback (no Spark needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app


def test_unreachable_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_CRM_DSN", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("LEADSCORE_CRM_CONNECT_TIMEOUT", "2")
    result = CliRunner().invoke(build_app(), ["pipeline", "run", "--source", "crm", "--lake", str(tmp_path)])
    assert result.exit_code == 75  # transient: the workflows retry it
    assert "CRM database unreachable" in result.output and "Traceback" not in result.output


def test_missing_input_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["pipeline", "run", "--source", "files", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 1 and "leads.csv: no such file" in result.output


def test_source_needs_a_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["pipeline", "run", "--source", "csv", "--lake", str(tmp_path)])
    assert result.exit_code == 1 and "needs a path" in result.output


def test_csv_lacking_contract_columns_is_named(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("age;job\n30;admin.\n")
    result = CliRunner().invoke(
        build_app(),
        ["pipeline", "run", "--spec", "bank_marketing", "--source", "csv", str(src), "--lake", str(tmp_path / "lake")],
    )
    assert result.exit_code == 1
    assert "bronze.schema: source lacks column(s)" in result.output and "marital" in result.output


def test_empty_lake_means_leadscore_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workflow's empty `lake` parameter arrives as --lake '': the step's LEADSCORE_LAKE (the ConfigMap) is used."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_LAKE", str(tmp_path / "env-lake"))
    result = CliRunner().invoke(
        build_app(), ["pipeline", "run", "--source", "files", str(tmp_path / "nope"), "--lake", ""]
    )
    assert result.exit_code == 1 and "leads.csv: no such file" in result.output
    assert (tmp_path / "env-lake").is_dir()  # the lake was checked (and created) there, before the source was read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env-lake"]
