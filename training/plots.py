"""Evaluation plots as PNG files (matplotlib's Agg canvas directly: no pyplot state, no GUI backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def roc_plot(y: np.ndarray, p: np.ndarray, auc: float, path: Path, oracle: np.ndarray | None = None) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    if oracle is not None:
        ofpr, otpr, _ = roc_curve(y, oracle)
        ax.plot(ofpr, otpr, ls="--", label="oracle (true probability)")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (time-ordered holdout)")
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_plot(y: np.ndarray, p: np.ndarray, pr_auc: float, path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    prec, rec, _ = precision_recall_curve(y, p)
    ax.plot(rec, prec, label=f"model (AP {pr_auc:.3f})")
    ax.axhline(float(np.mean(y)), color="grey", lw=0.8, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (holdout)")
    ax.legend()
    return _save(fig, path)


def calibration_plot(y: np.ndarray, p: np.ndarray, ece: float, path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    ax.plot(mean, frac, marker="o", label=f"calibrated model (ECE {ece:.3f})")
    hi = float(max(mean.max(), frac.max(), 0.05))
    ax.plot([0, hi], [0, hi], color="grey", lw=0.8, label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed conversion rate", title="Calibration (holdout)")
    ax.legend()
    return _save(fig, path)


def lift_gain_plot(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    fig = _figure(10, 4.5)
    order = np.argsort(-p, kind="mergesort")
    ys = np.asarray(y)[order]
    n = len(ys)
    share = np.arange(1, n + 1) / n
    gain = np.cumsum(ys) / max(ys.sum(), 1)
    ax1 = fig.add_subplot(1, 2, 1)
    ax1.plot(share, gain, label="model")
    ax1.plot([0, 1], [0, 1], color="grey", lw=0.8, label="random")
    ax1.set(xlabel="share of leads contacted (by score)", ylabel="share of conversions", title="Cumulative gain")
    ax1.legend()
    ax2 = fig.add_subplot(1, 2, 2)
    deciles = np.array_split(ys, 10)
    base = float(ys.mean()) or 1.0
    ax2.bar(np.arange(1, 11), [float(d.mean()) / base if len(d) else 0.0 for d in deciles])
    ax2.axhline(1.0, color="grey", lw=0.8)
    ax2.set(xlabel="score decile (1 = best)", ylabel="lift", title="Lift per decile")
    return _save(fig, path)


def importance_plot(importance: Mapping[str, float], path: Path, top: int = 20) -> Path:
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig = _figure(7, 0.3 * len(items) + 1.5)
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="total gain (summed over a feature's encoded columns)", title="Feature importance")
    return _save(fig, path)


def shap_summary_plot(
    contributions: np.ndarray, feature_names: list[str], values: Mapping[str, np.ndarray], path: Path, top: int = 15
) -> Path:
    """Per-lead contributions (XGBoost ``pred_contribs``, summed per business feature) as a dot summary."""
    mean_abs = np.abs(contributions).mean(axis=0)
    order = np.argsort(mean_abs)[-top:]
    fig = _figure(8, 0.35 * len(order) + 1.5)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        c = contributions[:, j]
        v = values.get(feature_names[j])
        jitter = row + rng.uniform(-0.3, 0.3, len(c))
        if v is not None and np.issubdtype(np.asarray(v).dtype, np.number) and np.isfinite(v).any():
            vv = np.asarray(v, dtype=np.float64)
            lo, hi = np.nanpercentile(vv, [5, 95])
            colour = np.clip((np.nan_to_num(vv, nan=lo) - lo) / max(hi - lo, 1e-9), 0, 1)
            ax.scatter(c, jitter, s=4, c=colour, cmap="coolwarm", alpha=0.6)
        else:
            ax.scatter(c, jitter, s=4, color="tab:blue", alpha=0.6)
    ax.set_yticks(range(len(order)), [f"{feature_names[j]} ({mean_abs[j]:.3f})" for j in order])
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set(xlabel="contribution to the margin (log-odds); colour = numeric value low->high", title="SHAP summary")
    return _save(fig, path)
