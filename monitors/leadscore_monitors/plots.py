"""Pictures for people who would rather look than read: the per-feature drift of a window."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def psi_chart(features: Mapping[str, Mapping[str, Any]], threshold: float, path: Path, title: str = "") -> Path:
    """Horizontal bars of PSI per feature (largest on top), the alert threshold as a line, drifted bars red.

    Args:
        features: feature name -> at least ``{"psi": float}`` (a replay report's ``features``).
        threshold: PSI above which a feature counts as drifted.
        path: PNG to write (parent created).
        title: chart title.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    items = sorted(features.items(), key=lambda kv: float(kv[1].get("psi", 0.0)))
    names = [k for k, _ in items]
    psi = [float(v.get("psi", 0.0)) for _, v in items]
    colors = ["#c0392b" if p > threshold else "#2e86c1" for p in psi]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) + 1.6))
    try:
        ax.barh(names, psi, color=colors)
        ax.axvline(threshold, color="#555555", linestyle="--", linewidth=1, label=f"alert: PSI > {threshold:g}")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel("PSI against the model version's reference bins")
        ax.set_title(title or "Feature drift, last window")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


__all__ = ["psi_chart"]
