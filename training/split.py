"""Time-based splits: holdout (latest leads), calibration slice, expanding-window CV folds.

"Latest" is what the spec's time order says (:attr:`FeatureSpec.time_order`): a timestamp, a monotone number
with a direction, or the input's row order when the spec accepts it explicitly. A spec that states none is
refused: a newest-first file would otherwise hold out its *oldest* leads without a word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import TimeSeriesSplit

from leadscore_core.contract import FeatureSpec, TimeOrder
from training.errors import TrainingError

ORDER_COLUMN = "event_order"
"""Gold column holding the raw value of the spec's time order (older gold tables lack it: ``event_ts``)."""


def require_time_order(spec: FeatureSpec) -> TimeOrder:
    """The spec's time order, or a :class:`TrainingError` that says how to state one."""
    order = spec.time_order
    if not order.stated:
        raise TrainingError(
            f"spec {spec.name!r} states no time order, so the holdout ('the latest leads') is undefined; "
            "add to its entity section one of: `timestamp: <column>` (ISO 8601 timestamp or date), "
            "`order_by: <monotone number column>` with `direction: ascending` (larger = newer) or `descending`, "
            "or `order_by: row_order` to accept the file's row order "
            "(`direction: descending` if the newest rows come first)"
        )
    return order


def order_frame(frame: pd.DataFrame, order: TimeOrder) -> pd.DataFrame:
    """Rows from oldest to latest per ``order`` (ties broken by lead id), index reset."""
    key = ORDER_COLUMN if ORDER_COLUMN in frame.columns else "event_ts"
    ascending = order.direction == "ascending"
    return frame.sort_values([key, "lead_id"], ascending=[ascending, True], kind="mergesort").reset_index(drop=True)


def holdout_note(order: TimeOrder, holdout: pd.DataFrame) -> str:
    """Which leads the holdout is, in words: the order that defined "latest" and where the holdout starts."""
    if not len(holdout):
        return f"0 leads; {order.describe()}"
    if order.kind == "timestamp":
        start = f"from {order.column} {pd.Timestamp(holdout['event_ts'].iloc[0]):%Y-%m-%d %H:%M}"
    else:
        key = ORDER_COLUMN if ORDER_COLUMN in holdout.columns else "event_ts"
        first = holdout[key].iloc[0]
        name = order.column if order.kind == "number" else "input row"
        value = f"{first:g}" if isinstance(first, float) else str(first)
        start = f"from {name} {value}"
    return f"{len(holdout)} leads {start}; {order.describe()}"


@dataclass(frozen=True)
class TimeSplit:
    """Row index ranges into a frame sorted by event time."""

    n_rows: int
    train_end: int
    """Rows ``[0, train_end)`` are the training part; ``[train_end, n)`` the holdout."""
    fit_end: int
    """Rows ``[0, fit_end)`` fit the final booster; ``[fit_end, train_end)`` fit the calibrator."""

    @property
    def train(self) -> slice:
        return slice(0, self.train_end)

    @property
    def fit(self) -> slice:
        return slice(0, self.fit_end)

    @property
    def calibration(self) -> slice:
        return slice(self.fit_end, self.train_end)

    @property
    def holdout(self) -> slice:
        return slice(self.train_end, self.n_rows)


def time_split(n_rows: int, holdout: float, calibration_fraction: float) -> TimeSplit:
    train_end = int(round(n_rows * (1.0 - holdout)))
    fit_end = int(round(train_end * (1.0 - calibration_fraction)))
    return TimeSplit(n_rows=n_rows, train_end=train_end, fit_end=fit_end)


def cv_folds(n_train: int, n_folds: int, scheme: str = "expanding") -> list[tuple[np.ndarray, np.ndarray]]:
    """CV folds over the (time-sorted) training part.

    ``expanding``: each fold validates on the next time block with everything before it as training.
    ``blocked``: ``n_folds`` contiguous blocks; each validates a model of the other blocks, purged of a gap
    of ``n_train / (10 * n_folds)`` rows on each side so neighbouring leads do not leak across the border.
    """
    rows = np.arange(n_train)
    if scheme == "expanding":
        return [(tr, va) for tr, va in TimeSeriesSplit(n_splits=n_folds).split(rows)]
    if scheme != "blocked":
        raise ValueError(f"unknown CV scheme {scheme!r} (expanding or blocked)")
    edges = np.linspace(0, n_train, n_folds + 1).astype(int)
    gap = n_train // (10 * n_folds)
    folds = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        keep = (rows < start - gap) | (rows >= end + gap)
        folds.append((rows[keep], rows[start:end]))
    return folds


def _both_classes(y: np.ndarray, what: str, hint: str) -> None:
    pos = int(y.sum())
    if pos == 0 or pos == len(y):
        only = "converted" if pos else "not converted"
        raise TrainingError(f"the {what} ({len(y)} leads) has only {only} leads; {hint}")


def check_target(
    y: np.ndarray, split: TimeSplit, folds: list[tuple[np.ndarray, np.ndarray]], min_rows: int, min_positives: int
) -> None:
    """Refuse data the time-based protocol cannot train or evaluate on, naming what to change."""
    n = len(y)
    if n == 0:
        raise TrainingError("the gold table is empty: run the pipeline on some leads first")
    if n < min_rows:
        raise TrainingError(f"the gold table has {n} leads, training needs at least {min_rows} (TRAINING_MIN_ROWS)")
    pos = int(y.sum())
    if pos == 0 or pos == n:
        raise TrainingError(
            f"single-class target: all {n} leads have label={int(pos > 0)}; "
            "check the spec's target column/positive values or add leads with both outcomes"
        )
    if pos < min_positives:
        raise TrainingError(
            f"only {pos} converted leads, training needs at least {min_positives} (TRAINING_MIN_POSITIVES)"
        )
    hint = "use more leads, a larger --holdout, or fewer TRAINING_CV_FOLDS"
    _both_classes(y[split.holdout], "holdout", hint)
    _both_classes(y[split.calibration], "calibration slice", hint)
    _both_classes(y[split.fit], "fit part", hint)
    for i, (tr, va) in enumerate(folds):
        _both_classes(y[tr], f"CV fold {i + 1} training block", hint)
        _both_classes(y[va], f"CV fold {i + 1} validation block", hint)
