"""Reading a pinned version of the gold ``lead_features`` Delta table and checking it against its spec."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore_core.contract import FeatureSpec, load_spec
from training.errors import TrainingError

DEFAULT_TABLE = "gold/lead_features"
GROUND_TRUTH_TABLE = "gold/ground_truth"
DEFAULT_SPEC = "crm_freezone"
SPEC_KEYS = ("leadscore.spec", "leadscore.spec_name", "spec", "spec_name")
"""Delta table-configuration / ``_runs`` keys the pipeline may use to record the spec it built gold from."""
FINGERPRINT_KEYS = ("leadscore.spec_fingerprint", "spec_fingerprint")
BASE_COLUMNS = ("lead_id", "event_ts", "label")


@dataclass
class GoldData:
    """A gold table version loaded for training, sorted by event time."""

    frame: pd.DataFrame
    spec: FeatureSpec
    table_path: str
    version: int
    spec_source: str
    """Where the spec name came from (``--spec``, table configuration, ``_runs``, or the default)."""


def _open(path: Path, version: int | None):  # -> deltalake.DeltaTable
    from deltalake import DeltaTable

    if not path.exists():
        raise TrainingError(
            f"gold table {path} does not exist; run `leadscore pipeline run --lake {path.parent.parent}` first"
        )
    try:
        return DeltaTable(str(path), version=version)
    except Exception as exc:  # delta-rs raises TableNotFoundError / DeltaError
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if version is not None:
            raise TrainingError(f"cannot open {path} at version {version}: {msg} (see `history` of the table)") from exc
        raise TrainingError(f"{path} is not a readable Delta table: {msg}") from exc


def _recorded_spec(table, lake: Path) -> tuple[str | None, str | None, str]:
    """(spec name, fingerprint, source) recorded by the pipeline, if any."""
    meta = table.metadata()
    config = dict(meta.configuration or {})
    for blob in (meta.description,):
        if blob:
            try:
                parsed = json.loads(blob)
                if isinstance(parsed, dict):
                    config.update({k: str(v) for k, v in parsed.items()})
            except ValueError:
                pass
    fingerprint = next((config[k] for k in FINGERPRINT_KEYS if config.get(k)), None)
    for key in SPEC_KEYS:
        if config.get(key):
            return config[key], fingerprint, f"table configuration {key!r}"
    try:
        history = table.history()
    except Exception:  # an unreadable log entry only loses this hint
        history = []
    pinned = table.version()
    for commit in sorted(history, key=lambda c: c.get("version", -1), reverse=True):
        if commit.get("version", -1) > pinned:
            continue
        batch = commit.get("batch_id")
        run_record = lake / "_runs" / f"{batch}.json"
        if isinstance(batch, str) and run_record.exists():
            found = _spec_in_run_record(run_record, fingerprint)
            if found:
                return found
        for key in SPEC_KEYS:
            if isinstance(commit.get(key), str) and commit[key]:
                fp = next((str(commit[k]) for k in FINGERPRINT_KEYS if commit.get(k)), fingerprint)
                return commit[key], fp, f"commit metadata {key!r} of version {commit.get('version')}"
    runs = sorted((lake / "_runs").glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for run in runs:
        found = _spec_in_run_record(run, fingerprint)
        if found:
            return found
    return None, fingerprint, "default"


def _spec_in_run_record(run: Path, fingerprint: str | None) -> tuple[str, str | None, str] | None:
    """The spec named in a pipeline ``_runs/<batch_id>.json`` record, if any."""
    try:
        doc = json.loads(run.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    for key in SPEC_KEYS:
        value = doc.get(key)
        if isinstance(value, dict):
            value = value.get("name")
        if isinstance(value, str) and value:
            fp = next((str(doc[k]) for k in FINGERPRINT_KEYS if doc.get(k)), fingerprint)
            return value, fp, f"pipeline run record _runs/{run.name}"
    return None


def resolve_spec(spec_arg: str | None, recorded: str | None) -> FeatureSpec:
    name = spec_arg or recorded or DEFAULT_SPEC
    try:
        return load_spec(name)
    except FileNotFoundError as exc:
        raise TrainingError(
            f"feature spec {name!r} not found: pass --spec with a spec file or a built-in name"
        ) from exc
    except ValueError as exc:
        raise TrainingError(f"feature spec {name!r} is invalid: {exc}") from exc


def check_columns(frame: pd.DataFrame, spec: FeatureSpec, table_path: str) -> None:
    """Fail with a clear message when the table does not follow the gold contract for ``spec``."""
    missing = [c for c in (*BASE_COLUMNS, *spec.feature_names) if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"gold table {table_path} does not match feature spec {spec.name!r}: missing columns {missing}; "
            "train with the spec the table was built from (--spec) or rebuild gold with `leadscore pipeline run`"
        )


def read_gold(
    lake: Path, table: str = DEFAULT_TABLE, version: int | None = None, spec_name: str | None = None
) -> GoldData:
    """Read gold at ``version`` (default latest) and the spec it was built from.

    Raises:
        TrainingError: the table is missing/unreadable, its labels are not 0/1, or it does not match the spec.
    """
    path = (lake / table).resolve()
    dt = _open(path, version)
    recorded, fingerprint, source = _recorded_spec(dt, lake)
    spec = resolve_spec(spec_name, recorded)
    if spec_name:
        source = "--spec"
    if spec_name and recorded and Path(spec_name).stem != Path(recorded).stem:
        raise TrainingError(
            f"--spec {spec_name!r} does not match the spec {recorded!r} gold was built from ({source}); drop --spec"
        )
    if fingerprint and fingerprint != spec.fingerprint():
        raise TrainingError(
            f"gold was built from spec {spec.name!r} with fingerprint {fingerprint}, the installed spec has "
            f"{spec.fingerprint()}: rebuild gold with `leadscore pipeline run` or train with the matching spec file"
        )
    frame = dt.to_pandas()
    check_columns(frame, spec, str(path))
    if frame["label"].isna().any():
        raise TrainingError(f"gold table {path}: {int(frame['label'].isna().sum())} rows have no label")
    labels = frame["label"].astype(np.int64)
    if not set(np.unique(labels)) <= {0, 1}:
        raise TrainingError(f"gold table {path}: label must be 0/1, found {sorted(set(np.unique(labels)))[:5]}")
    frame["label"] = labels
    frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True)
    frame = frame.sort_values(["event_ts", "lead_id"], kind="mergesort").reset_index(drop=True)
    return GoldData(frame=frame, spec=spec, table_path=str(path), version=int(dt.version()), spec_source=source)


def read_ground_truth(lake: Path) -> pd.DataFrame | None:
    """``lead_id, true_probability`` from ``gold/ground_truth`` (synthetic data only), or None."""
    path = lake / GROUND_TRUTH_TABLE
    if not (path / "_delta_log").exists():
        return None
    from deltalake import DeltaTable

    frame = DeltaTable(str(path)).to_pandas(columns=["lead_id", "true_probability"])
    return frame.drop_duplicates("lead_id", keep="last")
