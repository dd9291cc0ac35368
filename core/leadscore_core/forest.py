"""An XGBoost tree ensemble compiled to numpy arrays, for scoring a few leads per call.

Scoring one lead through XGBoost costs far more in per-call overhead (a ``DMatrix`` or the in-place
proxy, thread set-up, output buffers) than in walking 200 trees. :class:`TreeEnsemble` walks every tree
at once, one depth level per step, with a handful of vectorised numpy operations, and gives:

- the raw margin (sum of leaf values + the booster's base margin), and
- path-based attributions (Saabas; the same numbers as XGBoost's ``pred_contribs`` with
  ``approx_contribs=True``): each split on a lead's path credits its feature with the change of the
  node's cover-weighted mean value, so the contributions plus the bias column sum to the margin.

Only what a leadscore booster contains is supported (``gbtree``, one output, numeric splits: categoricals
are one-hot encoded before XGBoost sees them); anything else raises :class:`UnsupportedModel` and the
caller keeps XGBoost's own predictor. For large batches XGBoost's C++ predictor is faster; use this one
for request-sized inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class UnsupportedModel(ValueError):
    """The booster has a feature this compiler does not handle (dart, vector leaves, categorical splits)."""


class TreeEnsemble:
    """Arrays of every tree's nodes, padded to one width; a leaf's children point back to itself."""

    def __init__(
        self,
        *,
        n_features: int,
        width: int,
        depth: int,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        default_left: np.ndarray,
        mean: np.ndarray,
        base_margin: float = 0.0,
    ) -> None:
        self.n_features = n_features
        self.n_trees = len(mean) // width
        self.depth = depth
        self.base_margin = base_margin
        """Margin added to every prediction (XGBoost's ``base_score`` in margin space)."""
        self._left, self._right = left, right
        self._feature, self._threshold, self._default_left = feature, threshold, default_left
        self._mean = mean
        self._roots = np.arange(self.n_trees, dtype=np.int64) * width
        self._delta_left = mean[left] - mean
        self._delta_right = mean[right] - mean
        self._root_mean = float(mean[self._roots].sum())
        # one gather per level instead of two and a where: entry ``node + go_left * size``
        self._size = len(left)
        self._child = np.concatenate([right, left])
        self._delta = np.concatenate([self._delta_right, self._delta_left])

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_json_file(cls, path: str | Path) -> TreeEnsemble:
        return cls.from_model(json.loads(Path(path).read_text()))

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> TreeEnsemble:
        """Compile XGBoost's JSON model document (``Booster.save_model("x.json")``)."""
        learner = model["learner"]
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            raise UnsupportedModel(f"booster {booster.get('name')!r}: only gbtree is compiled")
        params = learner["learner_model_param"]
        if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) != 1:
            raise UnsupportedModel("multi-class / multi-target models are not compiled")
        trees = booster["model"]["trees"]
        if not trees:
            raise UnsupportedModel("the booster has no trees")
        n_features = int(params["num_feature"])
        width = max(int(t["tree_param"]["num_nodes"]) for t in trees)
        size = width * len(trees)
        left = np.empty(size, dtype=np.int64)
        right = np.empty(size, dtype=np.int64)
        feature = np.zeros(size, dtype=np.int64)
        threshold = np.zeros(size, dtype=np.float32)
        default_left = np.zeros(size, dtype=bool)
        mean = np.zeros(size, dtype=np.float64)
        depth = 0
        for t, tree in enumerate(trees):
            if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
                raise UnsupportedModel("vector-leaf trees are not compiled")
            if any(int(s) != 0 for s in tree["split_type"]):
                raise UnsupportedModel("categorical splits are not compiled")
            base = t * width
            lc = np.asarray(tree["left_children"], dtype=np.int64)
            rc = np.asarray(tree["right_children"], dtype=np.int64)
            n = len(lc)
            own = np.arange(n, dtype=np.int64)
            leaf = lc < 0
            left[base : base + width] = base + np.arange(width)  # padding nodes loop onto themselves
            right[base : base + width] = base + np.arange(width)
            left[base : base + n] = base + np.where(leaf, own, lc)
            right[base : base + n] = base + np.where(leaf, own, rc)
            feature[base : base + n] = np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64))
            threshold[base : base + n] = np.asarray(tree["split_conditions"], dtype=np.float32)
            default_left[base : base + n] = np.asarray(tree["default_left"], dtype=bool)
            values = np.asarray(tree["split_conditions"], dtype=np.float64)  # a leaf's value lives here
            cover = np.asarray(tree["sum_hessian"], dtype=np.float64)
            node_mean, tree_depth = _mean_values(lc, rc, values, cover)
            mean[base : base + n] = node_mean
            depth = max(depth, tree_depth)
        return cls(
            n_features=n_features,
            width=width,
            depth=depth,
            left=left,
            right=right,
            feature=feature,
            threshold=threshold,
            default_left=default_left,
            mean=mean,
        )

    def split_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Feature index and threshold of every split node (not leaves)."""
        split = self._left != np.arange(len(self._left))
        return self._feature[split], self._threshold[split]

    # -- scoring ------------------------------------------------------------------------------
    def _walk(self, x: np.ndarray, track: bool) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected shape (n, {self.n_features}), got {x.shape}")
        n = x.shape[0]
        flat = x.ravel()
        missing = np.isnan(flat)
        row_start = (np.arange(n, dtype=np.int64) * self.n_features)[:, None] if n > 1 else None
        node = np.broadcast_to(self._roots, (n, self.n_trees))
        steps: list[tuple[np.ndarray, np.ndarray]] = []
        for _ in range(self.depth):
            feat = self._feature[node]
            at = feat if row_start is None else row_start + feat
            go_left = (flat[at] < self._threshold[node]) | (missing[at] & self._default_left[node])
            step = node + go_left * self._size
            if track:
                steps.append((feat, self._delta[step]))
            node = self._child[step]
        return node, steps

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Raw margin per row (log-odds for a logistic objective)."""
        return self.leaf_sum(x) + self.base_margin

    def leaf_sum(self, x: np.ndarray) -> np.ndarray:
        """Sum of leaf values per row, without the base margin (used to recover it from a booster)."""
        leaves, _ = self._walk(x, track=False)
        return self._mean[leaves].sum(axis=1)

    def path_contributions(self, x: np.ndarray) -> np.ndarray:
        """Saabas attributions, shape (n, n_features + 1); the last column is the bias.

        Equal to XGBoost's ``predict(pred_contribs=True, approx_contribs=True)``; each row sums to
        :meth:`margin`.
        """
        n = x.shape[0]
        _, steps = self._walk(x, track=True)
        width = self.n_features + 1
        out = np.zeros(n * width, dtype=np.float64)
        if steps:
            row_start = (np.arange(n, dtype=np.int64) * width)[:, None]
            index = np.concatenate([row_start + f for f, _ in steps], axis=1).ravel()
            weight = np.concatenate([d for _, d in steps], axis=1).ravel()
            out += np.bincount(index, weights=weight, minlength=n * width)
        contribs = out.reshape(n, width)
        contribs[:, -1] = self._root_mean + self.base_margin
        return contribs


def _mean_values(lc: np.ndarray, rc: np.ndarray, values: np.ndarray, cover: np.ndarray) -> tuple[np.ndarray, int]:
    """Cover-weighted mean value of every node (a leaf's is its value), and the tree's depth."""
    n = len(lc)
    mean = np.zeros(n, dtype=np.float64)
    depth_of = np.zeros(n, dtype=np.int64)
    order = [0]
    for nid in order:  # breadth first: parents before children
        if lc[nid] >= 0:
            depth_of[lc[nid]] = depth_of[rc[nid]] = depth_of[nid] + 1
            order.extend((int(lc[nid]), int(rc[nid])))
    for nid in reversed(order):  # children before parents
        if lc[nid] < 0:
            mean[nid] = values[nid]
        else:
            a, b = lc[nid], rc[nid]
            total = cover[nid] if cover[nid] > 0 else cover[a] + cover[b]
            mean[nid] = (mean[a] * cover[a] + mean[b] * cover[b]) / total if total > 0 else 0.0
    return mean, int(depth_of[order].max()) if order else 0


__all__ = ["TreeEnsemble", "UnsupportedModel"]
