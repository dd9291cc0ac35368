"""The synthetic CRM generator: files, determinism, injected dirt, point-in-time requests, drift knobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.datagen.generate import GenerateConfig, generate
from leadscore.datagen.synth import auc
from leadscore_core.contract import load_spec

FILES = ["leads.csv", "web_events.jsonl", "ground_truth.csv", "score_requests.jsonl", "manifest.json"]


def _requests(path: Path) -> pd.DataFrame:
    return pd.read_json(path / "score_requests.jsonl", lines=True, dtype=False)


def test_writes_the_contract_files(raw_dir: Path) -> None:
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(FILES)
    spec = load_spec("crm_freezone")
    header = (raw_dir / "leads.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == [
        "lead_id",
        "created_at",
        "updated_at",
        "converted",
        "converted_at",
        "full_name",
        "email",
        "phone",
    ]
    assert set(header[8:]) == {f.source_column for f in spec.crm_features}
    gt = pd.read_csv(raw_dir / "ground_truth.csv")
    assert list(gt.columns) == ["lead_id", "true_probability"]
    assert len(gt) == 2000 and gt.true_probability.between(0, 1).all()


def test_same_seed_same_bytes_other_seed_differs(raw_dir: Path, tmp_path: Path) -> None:
    generate(GenerateConfig(rows=2000, seed=11, out=tmp_path / "a"))
    generate(GenerateConfig(rows=2000, seed=12, out=tmp_path / "b"))
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (raw_dir / name).read_bytes(), name
    assert (tmp_path / "b" / "leads.csv").read_bytes() != (raw_dir / "leads.csv").read_bytes()


def test_manifest_counts_match_the_files(raw_dir: Path) -> None:
    m = json.loads((raw_dir / "manifest.json").read_text())
    lines = (raw_dir / "leads.csv").read_text().splitlines()
    assert len(lines) - 1 == m["lead_lines"] == m["rows"] + m["duplicates"]
    ids = pd.Series([ln.split(",")[0] for ln in lines[1:]])
    assert (ids.value_counts() == 2).sum() == m["duplicates"]
    assert sum(1 for ln in lines[1:] if ln.endswith(",EXTRA,junk")) == m["malformed"]["too_many_fields"]
    events = (raw_dir / "web_events.jsonl").read_text().splitlines()
    assert len(events) == m["event_lines"]
    bad = 0
    for ln in events:
        try:
            json.loads(ln)
        except json.JSONDecodeError:
            bad += 1
    assert bad == m["malformed_events"]["bad_json"] > 0
    assert 0.08 <= m["base_rate"] <= 0.25
    assert m["oracle_auc"] > 0.7


def test_oracle_auc_is_computable_from_the_files(raw_dir: Path) -> None:
    gt = pd.read_csv(raw_dir / "ground_truth.csv")
    leads = pd.read_csv(raw_dir / "leads.csv", on_bad_lines="skip", dtype=str)
    latest = leads.sort_values("updated_at").drop_duplicates("lead_id", keep="last")
    joined = gt.merge(latest[["lead_id", "converted"]], on="lead_id")
    value = auc(joined.true_probability.to_numpy(), (joined.converted == "true").to_numpy())
    assert 0.7 < value < 0.95


def test_score_requests_hold_point_in_time_event_features(raw_dir: Path) -> None:
    """The request's engagement values are the events strictly before min(created+30d, converted_at)."""
    req = _requests(raw_dir).set_index("lead_id")
    leads = pd.read_csv(raw_dir / "leads.csv", on_bad_lines="skip", dtype=str)
    latest = leads.sort_values("updated_at").drop_duplicates("lead_id", keep="last").set_index("lead_id")
    ok = []
    for line in (raw_dir / "web_events.jsonl").read_text().splitlines():
        try:
            ok.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    ev = pd.DataFrame(ok).drop_duplicates("event_id")
    ev["ts"] = pd.to_datetime(ev.ts, utc=True, errors="coerce")
    created = pd.to_datetime(latest.created_at, utc=True, errors="coerce")
    conv = pd.to_datetime(latest.converted_at, utc=True, errors="coerce")
    cut = pd.concat([created + pd.Timedelta(days=30), conv], axis=1).min(axis=1)
    ev = ev.join(cut.rename("cut"), on="lead_id").dropna(subset=["cut", "ts"])
    before = ev[ev.ts < ev.cut]
    views = before[before.event_type == "page_view"].groupby("lead_id").size()
    got = views.reindex(req.index).fillna(0)
    # malformed/orphaned event lines can only lower the file-derived count
    assert (got <= req.web_visits).all()
    assert (got == req.web_visits).mean() > 0.95
    leaked = ev[(ev.ts >= ev.cut) & (ev.event_type == "payment_portal")]
    assert len(leaked) > 0, "post-conversion payment_portal events must exist in the stream"


@pytest.mark.parametrize("knob", ["source_mix", "engagement", "concept"])
def test_drift_knobs(raw_dir: Path, tmp_path: Path, knob: str) -> None:
    m = generate(GenerateConfig(rows=2000, seed=11, out=tmp_path, drift=knob, drift_strength=1.0))
    base, drifted = _requests(raw_dir), _requests(tmp_path)
    gt_base = pd.read_csv(raw_dir / "ground_truth.csv")
    gt_drift = pd.read_csv(tmp_path / "ground_truth.csv")
    assert m["drift"] == knob
    if knob == "source_mix":
        share = lambda df: df.lead_source.isin(["social", "paid_search", "chatbot"]).mean()  # noqa: E731
        assert share(drifted) > share(base) + 0.15
        assert (
            drifted.channel.value_counts(normalize=True) - base.channel.value_counts(normalize=True)
        ).abs().max() > 0.03
    elif knob == "engagement":
        assert drifted.web_visits.mean() > 1.5 * base.web_visits.mean()
        assert drifted.pages_per_visit.mean() > base.pages_per_visit.mean()
    else:
        features = ["lead_id", "created_at", *load_spec("crm_freezone").feature_names]
        pd.testing.assert_frame_equal(base[features], drifted[features])
        assert not np.allclose(gt_base.true_probability, gt_drift.true_probability)


@pytest.mark.parametrize(("seed", "strength"), [(12, 0.5), (13, 1.0)])
def test_combined_drift_shifts_inputs_and_labels(tmp_path: Path, seed: int, strength: float) -> None:
    """``source_mix+concept``: the inputs of ``source_mix`` alone, the labels of neither kind alone."""
    runs = {
        knob: generate(GenerateConfig(rows=1500, seed=seed, out=tmp_path / knob, drift=knob, drift_strength=strength))
        for knob in ("source_mix", "source_mix+concept", "concept+source_mix")
    }
    m = runs["source_mix+concept"]
    assert (m["drift"], m["drift_kinds"], m["drift_strength"]) == (
        "source_mix+concept",
        ["source_mix", "concept"],
        strength,
    )
    assert runs["source_mix"]["drift_kinds"] == ["source_mix"]
    features = ["lead_id", "created_at", *load_spec("crm_freezone").feature_names]
    covariate, both = _requests(tmp_path / "source_mix"), _requests(tmp_path / "source_mix+concept")
    pd.testing.assert_frame_equal(covariate[features], both[features])
    p_cov = pd.read_csv(tmp_path / "source_mix" / "ground_truth.csv").true_probability.to_numpy()
    p_both = pd.read_csv(tmp_path / "source_mix+concept" / "ground_truth.csv").true_probability.to_numpy()
    # the label function moved: referrals convert less than before, social leads more
    social = (both.lead_source == "social").to_numpy()
    referral = (both.lead_source == "referral").to_numpy()
    assert p_both[social].mean() > p_cov[social].mean() and p_both[referral].mean() < p_cov[referral].mean()
    # the order of the parts does not matter
    swapped = pd.read_csv(tmp_path / "concept+source_mix" / "ground_truth.csv").true_probability.to_numpy()
    np.testing.assert_array_equal(p_both, swapped)


@pytest.mark.parametrize(
    ("knob", "named"),
    [("source_mix+weather", "'weather'"), ("source_mix+", "''"), ("concept+concept", "twice"), ("", "''")],
)
def test_bad_drift_parts_are_named(tmp_path: Path, knob: str, named: str) -> None:
    with pytest.raises(ValueError, match="--drift") as err:
        GenerateConfig(rows=100, drift=knob, out=tmp_path).check()
    assert named in str(err.value)
    assert not any(tmp_path.iterdir())


def test_cli_names_the_unknown_drift_part(tmp_path: Path) -> None:
    args = ["data", "generate", "--rows", "50", "--out", str(tmp_path / "x"), "--drift", "source_mix+tides"]
    res = CliRunner().invoke(build_app(), args)
    assert res.exit_code == 2
    assert "unknown kind 'tides'" in res.output and "source_mix+concept" in res.output
    assert not (tmp_path / "x").exists()


def test_bad_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="months"):
        generate(GenerateConfig(rows=100, months=3, out=tmp_path))
    with pytest.raises(ValueError, match="drift"):
        generate(GenerateConfig(rows=100, drift="weather", out=tmp_path))
