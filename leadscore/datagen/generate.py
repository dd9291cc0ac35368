"""``leadscore data generate``: a deterministic synthetic CRM export for the ``crm_freezone`` spec.

Writes the files described in docs/architecture.md ("Generated raw data"): ``leads.csv``,
``web_events.jsonl``, ``ground_truth.csv``, ``score_requests.jsonl`` and ``manifest.json``.
Sampling is numpy (:mod:`leadscore.datagen.synth`, :mod:`leadscore.datagen.events`); text is built with
Arrow kernels (:mod:`leadscore.datagen.writers`), so a million leads take seconds, not minutes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.crm.db import export_columns
from leadscore.datagen import corrupt
from leadscore.datagen.corrupt import Columns
from leadscore.datagen.events import TYPES, PlacedEvents, place_events, sample_window_counts
from leadscore.datagen.pii import fake_pii
from leadscore.datagen.synth import DAY, DRIFTS, Leads, auc, drift_kinds, sample_leads, sigmoid, true_logit
from leadscore.datagen.writers import as_text, csv_lines, iso, jsonl, write_lines
from leadscore_core.contract import FeatureSpec, load_spec

__all__ = ["DRIFTS", "GenerateConfig", "generate"]


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate."""

    rows: int
    """Distinct leads (the CSV has more lines: duplicates)."""
    seed: int = 0
    out: Path = Path("raw")
    drift: str | None = None
    """``source_mix`` | ``engagement`` | ``concept``, several joined with ``+`` (``source_mix+concept``), or None."""
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
        drift_kinds(self.drift)
        if self.drift_strength < 0:
            raise ValueError(f"--drift-strength must be >= 0, got {self.drift_strength}")
        try:
            _start_seconds(self.start)
        except ValueError:
            raise ValueError(f"--start must be an ISO date, got {self.start!r}") from None


def _start_seconds(start: str) -> int:
    dt = datetime.fromisoformat(start)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _observed(
    spec: FeatureSpec,
    leads: Leads,
    ids: pa.Array,
    pii: Columns,
    converted: np.ndarray,
    converted_s: np.ndarray,
    updated_s: np.ndarray,
) -> Columns:
    """The CRM's view of each lead as text columns (``""`` = missing), in export column order."""
    conv = pa.array(converted)
    cols: Columns = {
        spec.id_column: ids,
        spec.timestamp_column: iso(leads.created_s),
        "updated_at": iso(updated_s),
        spec.target.column: pc.if_else(conv, "true", "false"),
        "converted_at": pc.if_else(conv, iso(converted_s), ""),
        **pii,
    }
    for f in spec.crm_features:
        if f.type == "categorical":
            cols[f.source_column] = pa.array(leads.cat[f.name], type=pa.string())
        elif f.type == "boolean":
            cols[f.source_column] = pc.if_else(pa.array(leads.has_existing_company), "true", "false")
        else:
            v = leads.num[f.name]
            cols[f.source_column] = as_text(np.round(v, 1) if f.name == "pages_per_visit" else v.astype(np.int64))
    return {c: cols[c] for c in export_columns(spec)}


def _event_lines(
    seed: int,
    ids: pa.Array,
    placed: PlacedEvents,
    rng: np.random.Generator,
    cfg: GenerateConfig,
    counts: dict[str, Any],
) -> pa.Array:
    order = np.argsort(placed.ts, kind="stable")
    replay = np.flatnonzero(rng.random(len(order)) < cfg.replay_event_rate)
    n_ev = len(order) + len(replay)
    event_no = np.concatenate([np.arange(len(order)), replay])  # replays arrive late with the same event id
    order = np.concatenate([order, order[replay]])
    lead = placed.lead[order]
    lead_ids = pc.take(ids, pa.array(lead))
    orphans = rng.random(n_ev) < cfg.orphan_event_rate
    if orphans.any():
        lead_ids = pc.if_else(pa.array(orphans), pc.binary_join_element_wise(f"L{seed}-X", as_text(lead), ""), lead_ids)
    codes = pa.array(placed.etype[order])
    etype = pa.DictionaryArray.from_arrays(codes, pa.array(TYPES)).cast(pa.string())
    page_of = {
        "pricing_view": "pricing",
        "form_start": "apply",
        "form_submit": "apply",
        "payment_portal": "portal_payment",
    }
    page = pa.DictionaryArray.from_arrays(codes, pa.array([page_of.get(t, "home") for t in TYPES])).cast(pa.string())
    event_id = pc.binary_join_element_wise(f"E{seed}-", as_text(event_no), "")
    ts, duration = iso(placed.ts[order]), pa.array(placed.duration[order])
    kinds = corrupt.event_corruption(n_ev, rng, cfg.bad_event_rate)
    lead_ids = corrupt.set_where(lead_ids, kinds == "missing_lead_id", None)
    etype = corrupt.set_where(etype, kinds == "unknown_event_type", "video_play")
    ts = corrupt.set_where(ts, kinds == "bad_ts", "yesterday")
    duration = corrupt.set_where(duration, kinds == "negative_duration", -5)
    lines = jsonl(
        {
            "event_id": (event_id, True),
            "lead_id": (lead_ids, True),
            "ts": (ts, True),
            "event_type": (etype, True),
            "duration_sec": (duration, False),
            "page": (page, True),
        }
    )
    bad_json = kinds == "bad_json"
    if bad_json.any():
        cut = [t[: len(t) // 2] + "\n" for t in lines.filter(pa.array(bad_json)).to_pylist()]
        lines = pc.replace_with_mask(lines, pa.array(bad_json), pa.array(cut, type=lines.type))
    counts.update(
        event_lines=n_ev,
        replayed_events=int(len(replay)),
        orphan_events=int(orphans.sum()),
        malformed_events={k: int((kinds == k).sum()) for k in corrupt.BAD_EVENT_KINDS},
        post_cutoff_events=int((~placed.in_window[order]).sum()),
        events_at_conversion=placed.at_conversion,
        payment_portal_events=int((placed.etype[order] == TYPES.index("payment_portal")).sum()),
    )
    return lines


def _score_requests(spec: FeatureSpec, observed: Columns, features: dict[str, np.ndarray]) -> pa.Array:
    """What the CRM POSTs to /score-lead: id, creation time, PII and every feature (events at cut-off)."""
    req: dict[str, tuple[pa.Array | np.ndarray, bool]] = {
        "lead_id": (observed[spec.id_column], True),
        spec.timestamp_column: (observed[spec.timestamp_column], True),
    }
    for name in spec.pii_fields:
        req[name] = (observed[name], True)
    for f in spec.features:
        if f.from_events is not None:
            req[f.name] = (features[f.name].astype(np.int64), False)
            continue
        raw = observed[f.source_column]
        raw = pc.if_else(pc.equal(raw, ""), pa.scalar(None, pa.string()), raw)
        if f.type == "numeric":
            req[f.name] = (pc.cast(pc.cast(raw, pa.float64()), pa.string()), False)
        else:
            req[f.name] = (raw, f.type != "boolean")
    return jsonl(req)


def _export_lines(
    spec: FeatureSpec,
    observed: Columns,
    leads: Leads,
    rng: np.random.Generator,
    dup_rows: np.ndarray,
    mal_rows: np.ndarray,
) -> tuple[pa.Array, dict[str, int], int]:
    """CSV text of the export: malformed rows plus stale earlier versions of ``dup_rows``, in time order."""
    export = dict(observed)
    kinds = corrupt.corrupt_values(export, mal_rows, spec.timestamp_column, spec.id_column)
    # stale earlier versions: before conversion, fewer e-mail opens, no budget yet
    take = pa.array(dup_rows)
    stale = {c: pc.take(a, take) for c, a in export.items()}
    stale["updated_at"] = iso(leads.created_s[dup_rows] + rng.integers(60, 3000, len(dup_rows)))
    stale[spec.target.column] = pa.array(["false"] * len(dup_rows), pa.string())
    stale["converted_at"] = pa.array([""] * len(dup_rows), pa.string())
    opens = pc.cast(
        pc.if_else(pc.equal(stale["email_opens"], ""), pa.scalar(None, pa.string()), stale["email_opens"]), pa.int64()
    )
    stale["email_opens"] = pc.fill_null(as_text(pc.divide(opens, 2)), "")
    stale["budget_band"] = pa.array([""] * len(dup_rows), pa.string())
    order = np.lexsort(
        (rng.random(len(kinds) + len(dup_rows)), np.concatenate([leads.created_s, leads.created_s[dup_rows]]))
    )
    all_kinds = np.concatenate([kinds, np.full(len(dup_rows), "", dtype=object)])[order]
    cols = [pc.take(pa.concat_arrays([export[c], stale[c]]), pa.array(order)) for c in export]
    lines = corrupt.corrupt_lines(csv_lines(cols), all_kinds)
    kind_counts = {k: int((kinds == k).sum()) for k in corrupt.MALFORMED_KINDS}
    return pc.binary_join_element_wise(lines, "\n", ""), kind_counts, len(order)


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    """Generate the raw data set described by ``cfg``; returns the manifest (also written to disk).

    Args:
        cfg: rows, seed, output directory, drift knob and strength, time span.

    Returns:
        The manifest: seed, counts of injected duplicates/malformed/missing values, base rate and the
        oracle AUC (ground-truth probability vs realised label).
    """
    cfg.check()
    spec = load_spec(cfg.spec)
    rng = np.random.default_rng(cfg.seed)
    n = cfg.rows
    leads = sample_leads(spec, rng, n, _start_seconds(cfg.start), cfg.months, cfg.drift, cfg.drift_strength)
    window = sample_window_counts(leads, rng)
    p = sigmoid(true_logit(leads, window.features, cfg.drift, cfg.drift_strength))
    converted = rng.random(n) < p
    # independent streams after the label, so a concept drift (other labels) leaves the inputs as they are
    rng_time, rng_dirt, rng_lines = (np.random.default_rng([cfg.seed, k]) for k in (1, 2, 3))
    delay = (0.5 * DAY + rng_time.exponential(12 * DAY, n)).astype(np.int64)
    converted_s = leads.created_s + np.minimum(delay, 90 * DAY)
    window_s = int(spec.point_in_time.feature_window_days * DAY)
    cutoff_s = np.where(converted, np.minimum(leads.created_s + window_s, converted_s), leads.created_s + window_s)
    placed = place_events(leads, window, converted, converted_s, cutoff_s, rng_time)
    updated_s = np.where(
        converted, converted_s + rng_time.integers(60, 7200, n), leads.created_s + rng_time.integers(3600, 20 * DAY, n)
    )

    ids = pc.binary_join_element_wise(f"L{cfg.seed}-", pc.utf8_lpad(as_text(np.arange(1, n + 1)), 7, "0"), "")
    observed = _observed(spec, leads, ids, fake_pii(rng_dirt, n), converted, converted_s, updated_s)
    counts: dict[str, Any] = {"missing": corrupt.blank_missing(observed, rng_dirt)}
    perm = rng_dirt.permutation(n)
    n_dup, n_mal, n_unk = (int(round(n * r)) for r in (cfg.duplicate_rate, cfg.malformed_rate, cfg.unknown_rate))
    dup_rows, mal_rows = perm[:n_dup], perm[n_dup : n_dup + n_mal]
    counts["unknown_categories"] = corrupt.inject_unknown(observed, perm[n_dup + n_mal : n_dup + n_mal + n_unk])

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, kind_counts, n_lines = _export_lines(spec, observed, leads, rng_dirt, dup_rows, mal_rows)
    header = pa.array([",".join(observed) + "\n"])
    write_lines(out / "leads.csv", pa.concat_arrays([header, lines]))
    write_lines(out / "web_events.jsonl", _event_lines(cfg.seed, ids, placed, rng_lines, cfg, counts))
    gt = csv_lines([ids, pc.cast(pa.array(np.round(p, 6)), pa.string())])
    write_lines(
        out / "ground_truth.csv",
        pa.concat_arrays([pa.array(["lead_id,true_probability\n"]), pc.binary_join_element_wise(gt, "\n", "")]),
    )
    write_lines(out / "score_requests.jsonl", _score_requests(spec, observed, window.features))

    rejected_unknown = sum(v for c, v in counts["unknown_categories"].items() if spec.feature(c).unknown == "reject")
    n_bad = sum(kind_counts.values())
    manifest = {
        "spec": spec.name,
        "spec_fingerprint": spec.fingerprint(),
        "seed": cfg.seed,
        "rows": n,
        "start": cfg.start,
        "months": cfg.months,
        "drift": cfg.drift,
        "drift_kinds": list(drift_kinds(cfg.drift)),
        "drift_strength": cfg.drift_strength if cfg.drift else 0.0,
        "lead_lines": n_lines,
        "duplicates": n_dup,
        "malformed": kind_counts,
        **counts,
        "expected": {
            "quarantined_leads": n_bad + rejected_unknown,
            "duplicates": n_dup,
            "gold_rows": n - n_bad - rejected_unknown,
        },
        "base_rate": float(converted.mean()),
        "mean_true_probability": float(p.mean()),
        "oracle_auc": auc(p, converted),
        "files": ["leads.csv", "web_events.jsonl", "ground_truth.csv", "score_requests.jsonl", "manifest.json"],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
