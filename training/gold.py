"""Reading a pinned version of the gold ``lead_features`` Delta table and checking it against its spec.

The lake is a local path or ``s3://bucket/prefix`` (:class:`~leadscore_core.storage.StorageUri`); delta-rs reads
it either way (:class:`~leadscore.objectstore.ObjectStore`). An S3 endpoint that does not answer raises
:class:`~leadscore_core.storage.StorageUnreachable` before anything is trained or registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.objectstore import ObjectStore
from leadscore_core.contract import FeatureSpec, find_spec, load_spec
from leadscore_core.lake import GOLD_FEATURES, GOLD_TRUTH, SpecMismatch, SpecRecord, check_spec, spec_record
from leadscore_core.storage import StorageUnreachable, StorageUri, StorageUriError
from training.errors import TrainingError
from training.split import order_frame

DEFAULT_TABLE = GOLD_FEATURES
BASE_COLUMNS = ("lead_id", "event_ts", "label")


@dataclass
class GoldData:
    """A gold table version loaded for training, sorted oldest to latest by the spec's time order."""

    frame: pd.DataFrame
    spec: FeatureSpec
    table_path: str
    version: int
    spec_source: str
    """Where the spec came from: the gold commit's record, or a ``--spec`` checked against it."""
    spec_fingerprint: str
    """The fingerprint gold was built with (== ``spec.fingerprint()``)."""


def _open(store: ObjectStore, table: str, version: int | None) -> Any:  # -> deltalake.DeltaTable
    path = store.uri(table)
    try:
        store.check()
        present = store.delta_exists(table)
    except StorageUriError as exc:
        raise TrainingError(str(exc)) from exc
    if not present:
        raise TrainingError(f"gold table {path} does not exist; run `leadscore pipeline run --lake {store.root}` first")
    try:
        return store.delta(table, version)
    except StorageUnreachable:
        raise
    except Exception as exc:  # delta-rs raises TableNotFoundError / DeltaError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if version is not None:
            raise TrainingError(f"cannot open {path} at version {version}: {msg} (see `history` of the table)") from exc
        raise TrainingError(f"{path} is not a readable Delta table: {msg}") from exc


def recorded_spec(table: Any, store: ObjectStore, name: str, where: str) -> SpecRecord:
    """The spec record of the commit that made the pinned version (:func:`leadscore_core.lake.spec_record`);
    ``table`` is the pinned ``deltalake.DeltaTable`` of ``name`` in ``store``.

    Raises:
        TrainingError: that commit records no spec (not written by ``leadscore pipeline run``).
    """
    pinned = table.version()
    try:
        # the history of the latest table: delta-rs numbers a time-travelled table's history wrongly
        with store.errors(f"reading the history of {where}"):
            history = store.delta(name).history()
    except StorageUnreachable:
        raise
    except Exception as exc:  # delta-rs: an unreadable log
        raise TrainingError(f"{where}: cannot read the table history: {exc}") from exc
    commit = next((c for c in history if c.get("version") == pinned), None)
    if commit is None:  # history is newest first and may be truncated by log cleanup
        raise TrainingError(f"{where}: the commit of version {pinned} is no longer in the log; rebuild gold")
    try:
        return spec_record(commit, where)
    except SpecMismatch as exc:
        raise TrainingError(str(exc)) from exc


def resolve_spec(spec_arg: str | None, record: SpecRecord, where: str) -> tuple[FeatureSpec, str]:
    """The spec to train with and where it came from.

    Without ``spec_arg`` the spec of that name as installed now (found by its ``name``) when there is one,
    else the recorded content; either way it must match the fingerprint gold was built with.

    Raises:
        TrainingError: the spec cannot be loaded, or differs from the one gold was built with.
    """
    try:
        if spec_arg:
            spec, source = load_spec(spec_arg), "--spec"
        else:
            try:
                spec, source = find_spec(record.name), f"spec {record.name!r} recorded by {where}"
            except FileNotFoundError:
                spec, source = record.spec, f"spec content recorded by {where}"
        check_spec(record, spec, where)
    except FileNotFoundError as exc:
        raise TrainingError(f"{exc}; or drop --spec: gold records the spec it was built with") from exc
    except ValueError as exc:  # SpecMismatch or an invalid spec file
        raise TrainingError(str(exc)) from exc
    return spec, source


def check_columns(frame: pd.DataFrame, spec: FeatureSpec, table_path: str) -> None:
    """Fail with a clear message when the table does not follow the gold contract for ``spec``."""
    missing = [c for c in (*BASE_COLUMNS, *spec.feature_names) if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"gold table {table_path} does not match feature spec {spec.name!r}: missing columns {missing}; "
            "train with the spec the table was built from (--spec) or rebuild gold with `leadscore pipeline run`"
        )


def read_gold(
    lake: StorageUri | Path | str,
    table: str = DEFAULT_TABLE,
    version: int | None = None,
    spec_name: str | None = None,
) -> GoldData:
    """Read gold at ``version`` (default latest) and the spec it was built from (recorded in its commit).

    Raises:
        TrainingError: the table is missing/unreadable, records no spec, the spec changed since gold was
            built (fingerprint), its labels are not 0/1, or it does not match the spec.
        StorageUnreachable: the lake's S3 endpoint does not answer (bounded by the S3 settings).
    """
    try:
        store = ObjectStore(lake)
    except StorageUriError as exc:
        raise TrainingError(str(exc)) from exc
    path = store.uri(table)
    dt = _open(store, table, version)
    where = f"gold {path} version {dt.version()}"
    record = recorded_spec(dt, store, table, where)
    spec, source = resolve_spec(spec_name, record, where)
    with store.errors(f"reading {where}"):
        frame = dt.to_pandas()
    check_columns(frame, spec, str(path))
    if frame["label"].isna().any():
        raise TrainingError(f"gold table {path}: {int(frame['label'].isna().sum())} rows have no label")
    labels = frame["label"].astype(np.int64)
    if not set(np.unique(labels)) <= {0, 1}:
        raise TrainingError(f"gold table {path}: label must be 0/1, found {sorted(set(np.unique(labels)))[:5]}")
    frame["label"] = labels
    frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True)
    frame = order_frame(frame, spec.time_order)
    return GoldData(
        frame=frame,
        spec=spec,
        table_path=str(path),
        version=int(dt.version()),
        spec_source=source,
        spec_fingerprint=record.fingerprint,
    )


def read_ground_truth(lake: StorageUri | Path | str) -> pd.DataFrame | None:
    """``lead_id, true_probability`` from ``gold/ground_truth`` (synthetic data only), or None."""
    store = ObjectStore(lake)
    if not store.delta_exists(GOLD_TRUTH):
        return None
    with store.errors(f"reading {store.uri(GOLD_TRUTH)}"):
        frame = store.delta(GOLD_TRUTH).to_pandas(columns=["lead_id", "true_probability"])
    return frame.drop_duplicates("lead_id", keep="last")
