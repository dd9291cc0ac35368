"""Reason codes: the one function every scoring path uses (online front, MLflow pyfunc, batch scoring).

A reason is a business feature with its value, its contribution to the margin (log-odds) and the
direction. The top ``k`` per lead are the largest absolute contributions, ties broken by the spec's feature
order (a stable sort), so the same contributions give the same reasons on every path. Which attribution
produced the contributions (``exact`` TreeSHAP or ``approx`` path attributions) is the artifact's
``Manifest.attribution``: :meth:`leadscore_core.artifact.LeadScorer.score` uses it unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

Attribution = Literal["exact", "approx"]
"""``exact``: XGBoost TreeSHAP. ``approx``: path attributions (Saabas; XGBoost's ``approx_contribs``)."""
ATTRIBUTIONS: tuple[Attribution, ...] = ("exact", "approx")


def top_k_order(contributions: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest absolute contributions per row, stable (ties: spec order)."""
    k = min(k, contributions.shape[1])
    return np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]


def reasons(
    contributions: np.ndarray,
    feature_names: Sequence[str],
    values: Sequence[Mapping[str, Any]] | None,
    k: int,
) -> list[list[dict[str, Any]]]:
    """Top-``k`` reason codes per lead.

    Args:
        contributions: per business feature contribution to the margin, shape (n, n_features).
        feature_names: the spec's feature names, in column order.
        values: each lead's clean feature values (the reasons quote them); None: values unknown.
        k: reasons per lead (the manifest's ``top_k_reasons``).

    Returns:
        Per lead, a list of ``{"feature", "value", "contribution" (rounded to 1e-6), "direction"}``.
    """
    order = top_k_order(contributions, k).tolist()
    out = []
    for i, cols in enumerate(order):
        vals = values[i] if values is not None else {}
        row = contributions[i]
        lead = []
        for j in cols:
            c = float(row[j])
            name = feature_names[j]
            lead.append(
                {
                    "feature": name,
                    "value": vals.get(name),
                    "contribution": round(c, 6),
                    "direction": "increases" if c >= 0 else "decreases",
                }
            )
        out.append(lead)
    return out
