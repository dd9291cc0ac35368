"""Drift verdict error rates (a statistical simulation, not a timing benchmark): false alarms and power.

Run with the monitors env from the repo root (``-m`` puts the repo root on the path for the generator):

    nice monitors/.venv/bin/python -m bench.drift_power [--seeds 20] [--sizes 500 2000 5000] [--json]

1. A reference model the way training makes one: 20,000 leads of the generator (seed 1000, Jan-Jun),
   time-split 70/30; a small XGBoost fitted on the first 70 %, whose drift reference (bins, sample,
   in-sample scores) is written by ``leadscore_core.reference.save_artifact``; its AUC on the last 30 %
   is the reference AUC of the outcome path.
2. For every seed and scenario (no drift; ``source_mix``, ``engagement``, ``concept`` at 0.25, 0.5, 1.0)
   one frame of 5,000 clean leads is drawn over the same six months (so the campaign calendar differs
   from the reference's, as in production), shuffled, scored by the artifact (probability, tier, top
   reason), and its first 500 / 2,000 / 5,000 leads judged by ``DriftDetector.predict`` (the verdict the
   service applies). No server starts.
3. The outcome path on the same windows: realised AUC against the reference AUC
   (:func:`leadscore_monitors.outcome.concept_drift`), labels drawn from the generator's ground truth.

Reported per scenario and window size: the share of windows with ``is_drift`` (false-alarm rate for
no drift), the share where the moved feature is among ``drifted_features``, and the outcome path's rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from leadscore.datagen.frames import MOVED, Frame, build_reference, clean_frame
from leadscore_core.artifact import LeadScorer
from leadscore_core.contract import load_spec
from leadscore_core.settings import DriftThresholds
from leadscore_monitors.detectors.base import DriftDetector, WindowData, build_detector
from leadscore_monitors.outcome import auc, calibration_p_value, concept_drift
from leadscore_monitors.reference import load_reference

KINDS = ("source_mix", "engagement", "concept")
STRENGTHS = (0.25, 0.5, 1.0)


def window_of(scorer: LeadScorer, frame: Frame) -> WindowData:
    """The frame as the drift service sees it: clean columns plus each lead's answer."""
    assert scorer.encoder is not None
    batch = scorer.score(scorer.encoder.encode_columns(frame.columns, frame.n), explain=True, approx=True)
    assert batch.contributions is not None
    names = scorer.encoder.feature_names
    top = [names[j] for j in np.argmax(np.abs(batch.contributions), axis=1)]
    columns = {
        k: [None if isinstance(v, float) and v != v else v for v in frame.columns[k].tolist()] for k in frame.columns
    }
    return WindowData(
        columns=columns,
        scores=batch.probability.tolist(),
        row_scores=batch.probability,
        row_tiers=list(batch.tier),
        row_reasons=top,
    )


def judge_window(
    detector: DriftDetector, window: WindowData, frame: Frame, n: int, ref_auc: float, t: DriftThresholds
) -> dict[str, Any]:
    part = WindowData(
        columns={k: v[:n] for k, v in window.columns.items()},
        scores=window.scores[:n],
        row_scores=None if window.row_scores is None else window.row_scores[:n],
        row_tiers=None if window.row_tiers is None else window.row_tiers[:n],
        row_reasons=None if window.row_reasons is None else window.row_reasons[:n],
    )
    result = detector.predict(part)
    y = frame.converted[:n].astype(int)
    realised = auc(y, window.scores[:n])
    return {
        "is_drift": result.is_drift,
        "drifted": result.drifted_features,
        "seasonal": result.seasonal_drift,
        "reason_drift": result.reason_drift,
        "bias": result.bias_drift,
        "outcome": concept_drift(
            realised, int(y.sum()), int(n - y.sum()), ref_auc, t, calibration_p_value(part.scores, y)
        ),
    }


def scenarios() -> list[tuple[str, float]]:
    return [("none", 0.0)] + [(k, s) for k in KINDS for s in STRENGTHS]


def simulate(seeds: int, sizes: list[int], backend: str) -> dict[str, Any]:
    spec = load_spec("crm_freezone")
    t = DriftThresholds()
    with tempfile.TemporaryDirectory() as tmp:
        path, ref_auc = build_reference(spec, Path(tmp) / "model")
        reference = load_reference(path)
        detector = build_detector(backend, reference, t)  # type: ignore[arg-type]
        scorer = LeadScorer(path).load()
        _ = reference.outputs  # score the reference sample once
        rows: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for kind, strength in scenarios():
            key = f"{kind}@{strength}" if kind != "none" else "none"
            rows[key] = {n: [] for n in sizes}
            for seed in range(seeds):
                frame = clean_frame(spec, 2000 + seed, max(sizes), None if kind == "none" else kind, strength)
                frame = frame.take(np.random.default_rng(seed).permutation(frame.n))
                window = window_of(scorer, frame)
                for n in sizes:
                    rows[key][n].append(judge_window(detector, window, frame, n, ref_auc, t))
    return {"reference_auc": ref_auc, "thresholds": t.model_dump(), "rows": rows}


def _rate(flags: list[bool]) -> str:
    return f"{100 * sum(flags) / len(flags):.0f}%"


def table(sim: dict[str, Any], sizes: list[int], seeds: int) -> str:
    head = "| scenario | " + " | ".join(f"n={n}: verdict / moved feature / outcome path" for n in sizes) + " |"
    lines = [head, "|---|" + "---|" * len(sizes)]
    for key, by_n in sim["rows"].items():
        kind = key.split("@")[0]
        moved = MOVED.get(kind, ())
        cells = []
        for n in sizes:
            r = by_n[n]
            verdict = _rate([x["is_drift"] for x in r])
            on_feature = _rate([any(f in moved for f in x["drifted"]) for x in r]) if moved else "-"
            cells.append(f"{verdict} / {on_feature} / {_rate([x['outcome'] for x in r])}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    extra = []
    for n in sizes:
        r = sim["rows"]["none"][n]
        extra.append(
            f"n={n}: seasonal (campaign) reported {_rate([bool(x['seasonal']) for x in r])}, "
            f"reason-mix flag {_rate([x['reason_drift'] for x in r])}, bias flag {_rate([bool(x['bias']) for x in r])}"
        )
    return "\n".join(lines) + f"\n\n{seeds} seeds per cell. No drift: " + "; ".join(extra) + "."


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench.drift_power", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    p.add_argument("--backend", choices=["alibi", "evidently"], default="alibi")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    started = time.time()
    sim = simulate(a.seeds, sorted(a.sizes), a.backend)
    if a.json:
        print(json.dumps(sim, default=str))
        return
    print(table(sim, sorted(a.sizes), a.seeds))
    print(f"\nreference AUC (holdout) {sim['reference_auc']:.4f}; backend {a.backend}; {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
