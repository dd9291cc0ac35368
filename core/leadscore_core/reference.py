"""Building and saving a model artifact's drift reference and the artifact itself (numpy only).

Training calls :func:`save_artifact`; tests of the serving and monitor images call it too, to make tiny
real artifacts without the training environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leadscore_core.artifact import (
    BOOSTER,
    DRIFT_REFERENCE,
    FORMAT_VERSION,
    REFERENCE_SAMPLE,
    CategoricalReference,
    DriftReference,
    Manifest,
    NumericReference,
    make_probe,
    sha256_file,
    write_manifest,
)
from leadscore_core.contract import OTHER, FeatureSpec

N_BINS = 10


def _as_float(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def numeric_reference(values: Sequence[Any] | np.ndarray, n_bins: int = N_BINS) -> NumericReference:
    """Quantile bins of the reference values (missing kept as its own bin)."""
    x = _as_float(values)
    present = x[~np.isnan(x)]
    n = len(x)
    if len(present) == 0:
        return NumericReference(edges=[], freq=[0.0, 1.0], mean=0.0, std=0.0, missing_rate=1.0, q1=0.0, q3=0.0)
    qs = np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = sorted({float(q) for q in qs})
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    freq = [float(c) / n for c in counts] + [float(n - len(present)) / n]
    q1, q3 = np.quantile(present, [0.25, 0.75])
    return NumericReference(
        edges=edges,
        freq=freq,
        mean=float(present.mean()),
        std=float(present.std()),
        missing_rate=float(n - len(present)) / n,
        q1=float(q1),
        q3=float(q3),
    )


def numeric_histogram(ref: NumericReference, values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Shares of ``values`` in the reference bins (same layout as ``ref.freq``)."""
    x = _as_float(values)
    present = x[~np.isnan(x)]
    counts = np.bincount(np.searchsorted(ref.edges, present, side="left"), minlength=len(ref.edges) + 1)
    out = np.append(counts, len(x) - len(present)).astype(np.float64)
    return out / max(len(x), 1)


def categorical_reference(values: Sequence[Any] | np.ndarray, categories: Sequence[str]) -> CategoricalReference:
    vocab = [*categories, OTHER]
    freq = categorical_histogram(vocab, values)
    return CategoricalReference(categories=vocab, freq=[float(f) for f in freq], missing_rate=float(freq[-1]))


def categorical_histogram(vocab: Sequence[str], values: Sequence[Any] | np.ndarray) -> np.ndarray:
    index = {c: i for i, c in enumerate(vocab)}
    other = index.get(OTHER, len(vocab) - 1)
    counts = np.zeros(len(vocab) + 1, dtype=np.float64)
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            counts[-1] += 1
        else:
            counts[index.get(str(v), other)] += 1
    return counts / max(len(values), 1)


def build_drift_reference(
    spec: FeatureSpec, columns: Mapping[str, Sequence[Any] | np.ndarray], scores: np.ndarray | None = None
) -> DriftReference:
    """Reference distributions of every feature (clean values, by feature name) and of the score."""
    n = len(next(iter(columns.values()))) if columns else 0
    ref = DriftReference(n_reference=n)
    for f in spec.features:
        vals = columns[f.name]
        if f.type == "categorical":
            if f.vocab is None:
                raise ValueError(f"feature {f.name!r}: its learned vocabulary is not filled in (with_vocabularies)")
            ref.categorical[f.name] = categorical_reference(vals, f.vocab)
        elif f.type == "boolean":
            ref.categorical[f.name] = categorical_reference(
                ["true" if v is True or v == 1 else "false" if v is False or v == 0 else None for v in vals],
                ["false", "true"],
            )
        elif f.type == "numeric":
            ref.numeric[f.name] = numeric_reference(vals)
    if scores is not None:
        ref.score = numeric_reference(scores)
    return ref


def reference_sample(
    spec: FeatureSpec, columns: Mapping[str, Sequence[Any] | np.ndarray], size: int = 5000, seed: int = 0
) -> dict[str, np.ndarray]:
    """A random sample of raw clean values per feature (numeric as float64 with NaN, others as str)."""
    n = len(next(iter(columns.values())))
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(size, n), replace=False))
    out: dict[str, np.ndarray] = {}
    for f in spec.features:
        vals = [columns[f.name][i] for i in idx]
        if f.type == "numeric":
            out[f.name] = _as_float(vals)
        else:
            out[f.name] = np.asarray(["" if v is None else str(v) for v in vals], dtype=np.str_)
    return out


def save_artifact(
    path: str | Path,
    manifest: Manifest,
    booster: Any,
    reference: DriftReference,
    sample: Mapping[str, np.ndarray],
) -> Path:
    """Write a complete artifact directory; on failure nothing half-written is left behind.

    The manifest is written last: it records the sha256 of every other file and the probe answers.
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        booster.save_model(str(tmp / BOOSTER))
        (tmp / DRIFT_REFERENCE).write_text(reference.model_dump_json(indent=2))
        np.savez_compressed(tmp / REFERENCE_SAMPLE, **dict(sample))  # type: ignore[arg-type]
        files = {name: sha256_file(tmp / name) for name in (BOOSTER, DRIFT_REFERENCE, REFERENCE_SAMPLE)}
        update = {"files": files, "probe": make_probe(manifest, booster), "format_version": FORMAT_VERSION}
        write_manifest(tmp, manifest.model_copy(update=update))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
