"""`leadscore canary replay`: logged production traffic (a bronze Delta inference log with the sink's columns)
re-scored with a candidate; the shift is compared with what was served."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from logdata import write_log
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.delivery.replay import read_logged, replay
from leadscore_core.artifact import LeadScorer
from leadscore_core.contract import load_spec
from training.errors import RegistryError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("n", "seed"), [(150, 1), (600, 2)])
def test_the_served_model_replays_to_no_shift(tiny_artifacts: list[Path], tmp_path: Path, n: int, seed: int) -> None:
    write_log(tmp_path / "log", tiny_artifacts[0], n, seed, "2026-11-01")
    scorer = LeadScorer(tiny_artifacts[0]).load()
    log = read_logged(str(tmp_path / "log"), scorer.spec.feature_names, None, None)
    report = replay(log, scorer, "1")
    assert report.rows == len(log["score"]) > n // 2
    assert report.mean_abs_shift == 0 and report.tier_changed_share == 0 and report.score_psi == 0
    assert all(set(row) == {a} for a, row in report.tier_matrix.items())


def test_a_different_candidate_shows_its_shift(tiny_artifacts: list[Path], tmp_path: Path) -> None:
    write_log(tmp_path / "log", tiny_artifacts[0], 500, 3, "2026-11-01")
    candidate = LeadScorer(tiny_artifacts[1]).load()
    log = read_logged(str(tmp_path / "log"), candidate.spec.feature_names, None, None)
    report = replay(log, candidate, "2")
    assert candidate.encoder is not None
    names = candidate.spec.feature_names
    direct = candidate.score(
        candidate.encoder.encode_records([{k: log[k][i] for k in names} for i in range(report.rows)])
    )
    new = np.rint(direct.probability * 100)
    assert report.mean_score_candidate == pytest.approx(new.mean())
    assert (
        report.mean_abs_shift == pytest.approx(np.abs(new - np.asarray(log["score"])).mean())
        and report.mean_abs_shift > 0
    )
    assert sum(sum(row.values()) for row in report.tier_matrix.values()) == report.rows
    changed = sum(c for a, row in report.tier_matrix.items() for b, c in row.items() if a != b)
    assert report.tier_changed_share == pytest.approx(changed / report.rows)
    assert report.baseline_versions == ["1"]


def test_days_select_the_traffic(tiny_artifacts: list[Path], tmp_path: Path) -> None:
    from datetime import date

    write_log(tmp_path / "log", tiny_artifacts[0], 100, 4, "2026-11-01")
    write_log(tmp_path / "log", tiny_artifacts[0], 300, 5, "2026-11-02")
    names = load_spec("crm_freezone").feature_names
    everything = read_logged(str(tmp_path / "log"), names, None, None)
    second = read_logged(str(tmp_path / "log"), names, date(2026, 11, 2), None)
    first = read_logged(str(tmp_path / "log"), names, None, date(2026, 11, 1))
    assert len(first["score"]) + len(second["score"]) == len(everything["score"]) and len(second["score"]) > len(
        first["score"]
    )


def test_no_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no Delta inference log"):
        read_logged(str(tmp_path / "nothing"), ["x"], None, None)


def test_replay_cli_on_the_registry_candidate(store: Path, tiny_artifacts: list[Path], tmp_path: Path) -> None:
    write_log(tmp_path / "log", tiny_artifacts[0], 300, 6, "2026-11-03")
    res = CliRunner().invoke(
        build_app(), ["canary", "replay", "--model-version", "2", "--log", str(tmp_path / "log"), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["candidate_version"] == "2" and doc["baseline_versions"] == ["1"] and doc["rows"] > 150
    res = CliRunner().invoke(build_app(), ["canary", "replay", "--model-version", "2", "--log", str(tmp_path / "none")])
    assert res.exit_code == 3 and "no Delta inference log" in res.output
