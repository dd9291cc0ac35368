"""``leadscore data generate``: a deterministic synthetic CRM export for the ``crm_freezone`` spec.

Writes the files described in docs/architecture.md ("Generated raw data"): ``leads.csv``,
``web_events.jsonl``, ``ground_truth.csv``, ``score_requests.jsonl`` and ``manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore_core.contract import FeatureSpec, load_spec
from training.data import corrupt
from training.data.events import place_events, sample_window_counts
from training.data.pii import fake_pii
from training.data.synth import DAY, Leads, auc, sample_leads, sigmoid, true_logit

DRIFTS = ("source_mix", "engagement", "concept")


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate."""

    rows: int
    """Distinct leads (the CSV has more lines: duplicates)."""
    seed: int = 0
    out: Path = Path("raw")
    drift: str | None = None
    """``source_mix`` | ``engagement`` | ``concept`` or None."""
    drift_strength: float = 0.5
    start: str = "2026-01-01"
    months: int = 6
    spec: str = "crm_freezone"
    duplicate_rate: float = 0.03
    malformed_rate: float = 0.005
    unknown_rate: float = 0.004
    bad_event_rate: float = 0.002
    replay_event_rate: float = 0.005
    orphan_event_rate: float = 0.001

    def check(self) -> None:
        """Raise ``ValueError`` on settings the generator cannot honour."""
        if self.rows < 10:
            raise ValueError(f"--rows must be >= 10, got {self.rows}")
        if self.months < 6:
            raise ValueError(f"--months must be >= 6, got {self.months}")
        if self.drift is not None and self.drift not in DRIFTS:
            raise ValueError(f"--drift must be one of {', '.join(DRIFTS)}, got {self.drift!r}")
        if self.drift_strength < 0:
            raise ValueError(f"--drift-strength must be >= 0, got {self.drift_strength}")


def _iso(seconds: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z").astype(object)


def _start_seconds(start: str) -> int:
    dt = datetime.fromisoformat(start)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _crm_columns(spec: FeatureSpec) -> list[str]:
    """CSV column order: id, timestamps, target, the other fields, then every CRM feature's source column."""
    head = [spec.id_column, spec.timestamp_column]
    if spec.entity.updated_at:
        head.append(spec.entity.updated_at)
    head.append(spec.target.column)
    if spec.target.timestamp:
        head.append(spec.target.timestamp)
    head += [f.source_column for f in spec.fields if f.source_column not in head]
    return head + [f.source_column for f in spec.crm_features]


def _observed_frame(spec: FeatureSpec, leads: Leads, ids: np.ndarray, pii: dict[str, np.ndarray],
                    converted: np.ndarray, converted_s: np.ndarray, updated_s: np.ndarray) -> pd.DataFrame:
    cols: dict[str, Any] = {
        spec.id_column: ids,
        spec.timestamp_column: _iso(leads.created_s),
        "updated_at": _iso(updated_s),
        spec.target.column: np.where(converted, "true", "false").astype(object),
        "converted_at": np.where(converted, _iso(converted_s), "").astype(object),
        **pii,
    }
    for f in spec.crm_features:
        if f.type == "categorical":
            cols[f.source_column] = leads.cat[f.name]
        elif f.type == "boolean":
            cols[f.source_column] = np.where(leads.has_existing_company, "true", "false").astype(object)
        else:
            v = leads.num[f.name]
            text = pd.Series(v).round(1).astype(str) if f.name == "pages_per_visit" else \
                pd.Series(v.astype(np.int64)).astype(str)
            cols[f.source_column] = text.to_numpy(dtype=object)
    return pd.DataFrame(cols)[_crm_columns(spec)]


def _events_frame(seed: int, ids: np.ndarray, placed: Any, rng: np.random.Generator, cfg: GenerateConfig,
                  counts: dict[str, Any]) -> tuple[pd.DataFrame, list[int]]:
    n_ev = len(placed.lead)
    lead_ids = ids[placed.lead]
    orphans = rng.random(n_ev) < cfg.orphan_event_rate
    lead_ids = np.where(orphans, np.char.add(f"L{seed}-X", placed.lead.astype(str)).astype(object), lead_ids)
    page = np.where(placed.etype == "pricing_view", "pricing",
                    np.where(np.isin(placed.etype, ["form_start", "form_submit"]), "apply",
                             np.where(placed.etype == "payment_portal", "portal_payment", "home")))
    ev = pd.DataFrame({
        "event_id": np.char.add(f"E{seed}-", np.arange(n_ev).astype(str)).astype(object),
        "lead_id": lead_ids.astype(object), "ts": _iso(placed.ts), "event_type": placed.etype,
        "duration_sec": placed.duration, "page": page.astype(object), "_ts": placed.ts,
    })
    ev = ev.sort_values(["_ts", "event_id"], kind="stable").drop(columns="_ts").reset_index(drop=True)
    replay = rng.random(len(ev)) < cfg.replay_event_rate
    ev = pd.concat([ev, ev[replay]], ignore_index=True)
    bad_counts, truncate = corrupt.corrupt_events(ev, rng, cfg.bad_event_rate)
    counts.update(
        event_lines=int(len(ev)), replayed_events=int(replay.sum()), orphan_events=int(orphans.sum()),
        malformed_events=bad_counts, post_cutoff_events=int((~placed.in_window).sum()),
        events_at_conversion=placed.at_conversion,
        payment_portal_events=int((placed.etype == "payment_portal").sum()),
    )
    return ev, truncate


def _score_requests(spec: FeatureSpec, observed: pd.DataFrame, features: dict[str, np.ndarray]) -> pd.DataFrame:
    req: dict[str, Any] = {"lead_id": observed[spec.id_column].to_numpy(),
                           spec.timestamp_column: observed[spec.timestamp_column].to_numpy()}
    for name in spec.pii_fields:
        req[name] = observed[name].to_numpy()
    for f in spec.features:
        if f.from_events is not None:
            req[f.name] = features[f.name].astype(np.int64)
            continue
        raw = observed[f.source_column]
        blank = raw == ""
        if f.type == "numeric":
            req[f.name] = pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy()
        elif f.type == "boolean":
            req[f.name] = np.where(blank, None, raw == "true").astype(object)
        else:
            req[f.name] = np.where(blank, None, raw).astype(object)
    return pd.DataFrame(req)


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    """Generate the raw data set described by ``cfg``; returns the manifest (also written to disk)."""
    cfg.check()
    spec = load_spec(cfg.spec)
    rng = np.random.default_rng(cfg.seed)
    n = cfg.rows
    leads = sample_leads(spec, rng, n, _start_seconds(cfg.start), cfg.months, cfg.drift, cfg.drift_strength)
    window = sample_window_counts(leads, rng)
    p = sigmoid(true_logit(leads, window.features, cfg.drift, cfg.drift_strength))
    converted = rng.random(n) < p
    delay = (0.5 * DAY + rng.exponential(12 * DAY, n)).astype(np.int64)
    converted_s = leads.created_s + np.minimum(delay, 90 * DAY)
    window_s = int(spec.point_in_time.feature_window_days * DAY)
    cutoff_s = np.where(converted, np.minimum(leads.created_s + window_s, converted_s), leads.created_s + window_s)
    placed = place_events(leads, window, converted, converted_s, cutoff_s, rng)
    updated_s = np.where(converted, converted_s + rng.integers(60, 7200, n),
                         leads.created_s + rng.integers(3600, 20 * DAY, n))

    ids = np.char.add(f"L{cfg.seed}-", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)
    observed = _observed_frame(spec, leads, ids, fake_pii(rng, ids), converted, converted_s, updated_s)
    counts: dict[str, Any] = {"missing": corrupt.blank_missing(observed, rng)}
    perm = rng.permutation(n)
    n_dup, n_mal, n_unk = (int(round(n * r)) for r in (cfg.duplicate_rate, cfg.malformed_rate, cfg.unknown_rate))
    dup_rows, mal_rows = perm[:n_dup], perm[n_dup:n_dup + n_mal]
    unk_rows = perm[n_dup + n_mal:n_dup + n_mal + n_unk]
    counts["unknown_categories"] = corrupt.inject_unknown(observed, unk_rows)
    requests = _score_requests(spec, observed, window.features)

    export = observed.copy()
    kinds = corrupt.corrupt_values(export, mal_rows, spec.timestamp_column, spec.id_column)
    # stale earlier versions of some leads: before conversion, fewer opens, no budget yet
    stale = export.iloc[dup_rows].copy()
    stale["updated_at"] = _iso(leads.created_s[dup_rows] + rng.integers(60, 3000, n_dup))
    stale[spec.target.column] = "false"
    stale["converted_at"] = ""
    stale["email_opens"] = (pd.to_numeric(stale["email_opens"], errors="coerce") // 2).astype("Int64").astype(str) \
        .replace("<NA>", "")
    stale["budget_band"] = ""
    export["_kind"] = ""
    export.loc[export.index[list(kinds)], "_kind"] = list(kinds.values())
    stale["_kind"] = "stale_duplicate"
    full = pd.concat([export, stale], ignore_index=True)
    full["_order"] = np.concatenate([leads.created_s, leads.created_s[dup_rows]])
    full["_tie"] = rng.random(len(full))
    full = full.sort_values(["_order", "_tie"], kind="stable").reset_index(drop=True)
    line_kinds = {i + 1: k for i, k in enumerate(full["_kind"]) if k in ("too_few_fields", "too_many_fields")}

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = full.drop(columns=["_kind", "_order", "_tie"]).to_csv(index=False, lineterminator="\n").split("\n")
    corrupt.corrupt_lines(lines, line_kinds)
    (out / "leads.csv").write_text("\n".join(lines))

    ev, truncate = _events_frame(cfg.seed, ids, placed, rng, cfg, counts)
    ev_lines = ev.to_json(orient="records", lines=True).split("\n")
    for pos in truncate:
        ev_lines[pos] = ev_lines[pos][: len(ev_lines[pos]) // 2]
    (out / "web_events.jsonl").write_text("\n".join(ev_lines))

    pd.DataFrame({"lead_id": ids, "true_probability": np.round(p, 6)}).to_csv(out / "ground_truth.csv", index=False)
    requests.to_json(out / "score_requests.jsonl", orient="records", lines=True)

    kind_counts = {k: sum(1 for v in kinds.values() if v == k) for k in corrupt.MALFORMED_KINDS}
    rejected_unknown = sum(v for c, v in counts["unknown_categories"].items() if spec.feature(c).unknown == "reject")
    manifest = {
        "spec": spec.name, "spec_fingerprint": spec.fingerprint(), "seed": cfg.seed, "rows": n,
        "start": cfg.start, "months": cfg.months, "drift": cfg.drift,
        "drift_strength": cfg.drift_strength if cfg.drift else 0.0,
        "lead_lines": int(len(full)), "duplicates": n_dup, "malformed": kind_counts, **counts,
        "expected": {"quarantined_leads": n_mal + rejected_unknown, "duplicates": n_dup,
                     "gold_rows": n - n_mal - rejected_unknown},
        "base_rate": float(converted.mean()), "mean_true_probability": float(p.mean()),
        "oracle_auc": auc(p, converted),
        "files": ["leads.csv", "web_events.jsonl", "ground_truth.csv", "score_requests.jsonl", "manifest.json"],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
