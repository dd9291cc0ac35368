"""Where a pipeline batch comes from: the PostgreSQL CRM, a raw directory of files, or a historical CSV.

Each source yields one :class:`RawBatch` of *text* (nothing typed yet: bronze validates) and knows how
to remember what it has ingested under the lake's ``_state/``: the CRM by its ``updated_at``
watermark, files by their sha256. A rerun over unchanged input therefore ingests 0 rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadscore.crm.load import sha256
from leadscore.objectstore import ObjectStore
from leadscore_core.contract import FeatureSpec


def safe_name(column: str) -> str:
    """Column name as stored in the lake (dots, spaces and such become ``_``: ``emp.var.rate`` -> ``emp_var_rate``)."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in column)


@dataclass
class RawBatch:
    """One batch of raw input."""

    source: str
    """``crm:<db>``, ``files:<dir>`` or ``csv:<path>``; stored as ``_source``."""
    leads: pa.Table
    """Text columns by source column name plus ``_line`` (int64: line or CRM row number)."""
    rejected: pa.Table
    """Lines that never became a row: ``_line`` (int64), ``raw``, ``reason``."""
    events: pa.Table | TextLines | None = None
    """Raw JSON lines: ``_line`` (int64), ``raw`` (CRM rows), or a file Spark reads itself."""
    ground_truth: pa.Table | None = None
    """``lead_id`` (string), ``true_probability`` (double) of synthetic data."""
    notes: list[str] = field(default_factory=list)
    commit: Callable[[], None] = lambda: None
    """Persist the new state (watermark / seen files); called after the run succeeded."""


@dataclass(frozen=True)
class TextLines:
    """A JSON-lines file for Spark to read on its executors (never through the driver's memory).

    :func:`leadscore.lakehouse.bronze.event_lines` turns it into ``_line``/``raw`` rows; the line
    numbers are exact (the file's own, blank lines counted and skipped).
    """

    path: str
    """Local path or any URI Spark can read (``s3a://``, ``abfss://``... on a cluster)."""
    size: int
    """Bytes; 0 means nothing to read."""

    @property
    def empty(self) -> bool:
        return self.size == 0


def empty_rejected() -> pa.Table:
    """A rejected-lines table with no rows."""
    return pa.table(
        {"_line": pa.array([], pa.int64()), "raw": pa.array([], pa.string()), "reason": pa.array([], pa.string())}
    )


def read_csv_text(path: Path, spec: FeatureSpec) -> tuple[pa.Table, pa.Table]:
    """Parse a CSV into text columns (header names) and the lines with the wrong number of fields.

    Returns:
        ``(rows, rejected)``; rows carry ``_line`` (1-based line number in the file).
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=spec.csv.delimiter, quotechar=spec.csv.quotechar)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: empty file (no header)")
        header = [h.strip() for h in header]
        rows: list[list[str]] = []
        lines: list[int] = []
        bad: list[tuple[int, str, str]] = []
        for row in reader:
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                bad.append(
                    (
                        reader.line_num,
                        spec.csv.delimiter.join(row),
                        f"malformed CSV line: expected {len(header)} fields, got {len(row)}",
                    )
                )
                continue
            rows.append(row)
            lines.append(reader.line_num)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    table = pa.table({h: pa.array(col, pa.string()) for h, col in zip(header, columns, strict=True)})
    table = table.append_column("_line", pa.array(lines, pa.int64()))
    rejected = pa.table(
        {
            "_line": pa.array([b[0] for b in bad], pa.int64()),
            "raw": pa.array([b[1] for b in bad], pa.string()),
            "reason": pa.array([b[2] for b in bad], pa.string()),
        }
    )
    return table, rejected


def read_ground_truth_csv(path: Path) -> pa.Table:
    """``ground_truth.csv`` as ``lead_id`` (string), ``true_probability`` (double)."""
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types={"lead_id": pa.string(), "true_probability": pa.float64()}),
    )


class FileState:
    """Files already ingested into a lake, by kind and sha256 (``_state/files.json``)."""

    FILE = "_state/files.json"

    def __init__(self, lake: ObjectStore) -> None:
        self.lake = lake
        text = lake.read_text(self.FILE)
        self.seen: dict[str, Any] = json.loads(text) if text is not None else {}
        self.pending: dict[str, Any] = {}

    def is_new(self, kind: str, file: Path) -> bool:
        """True (and remembered as pending) when ``file`` was not ingested as ``kind`` before."""
        key = f"{kind}:{sha256(file)}"
        if key in self.seen:
            return False
        self.pending[key] = str(file)
        return True

    def commit(self) -> None:
        """Persist the pending files as ingested."""
        if self.pending:
            self.lake.write_text(self.FILE, json.dumps({**self.seen, **self.pending}, indent=2))


def _lead_file_batch(
    spec: FeatureSpec, path: Path, lake: ObjectStore, source: str, kind: str
) -> tuple[RawBatch, FileState]:
    """A batch holding ``path``'s lead rows, or none when that content was ingested before."""
    state = FileState(lake)
    batch = RawBatch(
        source=source,
        leads=pa.table({"_line": pa.array([], pa.int64())}),
        rejected=empty_rejected(),
        commit=state.commit,
    )
    if state.is_new(kind, path):
        batch.leads, batch.rejected = read_csv_text(path, spec)
    else:
        batch.notes.append(f"{path}: already ingested (same sha256), 0 new rows")
    return batch, state


def _concat_leads(spec: FeatureSpec, paths: list[Path]) -> tuple[pa.Table, pa.Table]:
    """Several lead CSVs as one table: same columns required; ``_file`` names each row's file and ``_line``
    keeps counting across files (file order, then line), so ``row_order`` and quarantine lines stay exact."""
    tables, rejected, offset, header = [], [], 0, None
    for path in paths:
        rows, bad = read_csv_text(path, spec)
        cols = [c for c in rows.column_names if c != "_line"]
        if header is None:
            header = cols
        elif sorted(cols) != sorted(header):
            raise ValueError(f"{path}: columns {cols} differ from {paths[0].name}'s {header} (inputs.leads)")
        rows = rows.select([*header, "_line"])
        last = int(max(rows["_line"].to_pylist() + bad["_line"].to_pylist(), default=0))
        rows = rows.set_column(
            rows.column_names.index("_line"),
            "_line",
            pa.array([x + offset for x in rows["_line"].to_pylist()], pa.int64()),
        )
        rows = rows.append_column("_file", pa.array([path.name] * rows.num_rows, pa.string()))
        bad = bad.set_column(0, "_line", pa.array([x + offset for x in bad["_line"].to_pylist()], pa.int64()))
        bad = bad.set_column(
            2, "reason", pa.array([f"{path.name}: {r}" for r in bad["reason"].to_pylist()], pa.string())
        )
        tables.append(rows)
        rejected.append(bad)
        offset += last
    return pa.concat_tables(tables), pa.concat_tables(rejected)


def join_labels(spec: FeatureSpec, leads: pa.Table, path: Path, id_column: str) -> tuple[pa.Table, list[str]]:
    """Put the target column from a label file onto the lead rows, by id (a lead with no label gets none:
    bronze quarantines it). Returns the table and notes (duplicate or unmatched label ids)."""
    labels, bad = read_csv_text(path, spec)
    for col in (id_column, spec.target.column):
        if col not in labels.column_names:
            raise ValueError(f"{path}: no column {col!r} (inputs.labels needs the id and target.column)")
    lead_id = spec.raw_column(spec.entity.id) if spec.entity.id else None
    if lead_id is None or lead_id not in leads.column_names:
        raise ValueError(f"inputs.labels joins on the lead id, but the lead files have no {lead_id!r} column")
    if spec.target.column in leads.column_names:
        raise ValueError(f"target column {spec.target.column!r} is in the lead files and in {path.name}: keep one")
    by_id: dict[str, str] = {}
    dupes = 0
    for i, v in zip(labels[id_column].to_pylist(), labels[spec.target.column].to_pylist(), strict=True):
        key = (i or "").strip()
        dupes += key in by_id
        by_id[key] = v
    ids = [(x or "").strip() for x in leads[lead_id].to_pylist()]
    target = [by_id.get(x) for x in ids]
    notes = [
        f"{path.name}: {len(by_id)} labels joined on {id_column!r}; "
        f"{sum(t is None for t in target)} leads without a label (quarantined)"
    ]
    if dupes:
        notes.append(f"{path.name}: {dupes} duplicate ids, the last label wins")
    if bad.num_rows:
        notes.append(f"{path.name}: {bad.num_rows} malformed lines skipped")
    return leads.append_column(spec.target.column, pa.array(target, pa.string())), notes


def _inputs_batch(spec: FeatureSpec, src: Path, lake: ObjectStore) -> RawBatch:
    """The files the spec's ``inputs`` section names, as one batch (ingested once per distinct content)."""
    assert spec.inputs is not None
    paths = [src / name for name in spec.inputs.leads]
    label = spec.inputs.labels
    for p in [*paths, *([src / label.file] if label else [])]:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file (named by the spec's inputs section)")
    state = FileState(lake)
    batch = RawBatch(
        source=f"files:{src}",
        leads=pa.table({"_line": pa.array([], pa.int64())}),
        rejected=empty_rejected(),
        commit=state.commit,
    )
    new = [state.is_new("leads", p) for p in paths] + ([state.is_new("labels", src / label.file)] if label else [])
    if not any(new):
        batch.notes.append(f"{src}: every input file already ingested (same sha256), 0 new rows")
        return batch
    batch.leads, batch.rejected = _concat_leads(spec, paths)
    if label is not None:
        batch.leads, notes = join_labels(spec, batch.leads, src / label.file, label.id)
        batch.notes.extend(notes)
    return batch


def files_batch(spec: FeatureSpec, src: Path, lake: ObjectStore) -> RawBatch:
    """A raw directory, no PostgreSQL: the files of the spec's ``inputs`` section, else ``leads.csv`` with
    optional ``web_events.jsonl`` and ``ground_truth.csv``."""
    if spec.inputs is not None:
        if not src.is_dir():
            raise FileNotFoundError(f"{src}: no such directory")
        return _inputs_batch(spec, src, lake)
    leads_path = src / "leads.csv"
    if not leads_path.is_file():
        raise FileNotFoundError(f"{leads_path}: no such file (expected a `leadscore data generate` directory)")
    batch, state = _lead_file_batch(spec, leads_path, lake, f"files:{src}", "leads")
    events_path = src / "web_events.jsonl"
    if spec.events is not None and events_path.is_file() and state.is_new("web_events", events_path):
        batch.events = TextLines(str(events_path.resolve()), events_path.stat().st_size)
    gt_path = src / "ground_truth.csv"
    if gt_path.is_file() and state.is_new("ground_truth", gt_path):
        batch.ground_truth = read_ground_truth_csv(gt_path)
    return batch


def csv_batch(spec: FeatureSpec, path: Path, lake: ObjectStore) -> RawBatch:
    """A historical CSV (e.g. bank marketing); ingested once per distinct file content."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _lead_file_batch(spec, path, lake, f"csv:{path}", "csv")[0]
