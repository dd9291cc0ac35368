"""How the gold rows are split between the scoring tasks, and which rows a task skips.

The Python workers read gold's Parquet files themselves, so a task is a list of row ranges of Parquet row
groups (:class:`Unit`): one unit per task, each about the same number of rows. A row group larger than a
unit's share is cut into ranges (each task decodes that row group and keeps its range), so the tasks stay
balanced whatever row groups gold was written with.

The rows are numbered in one global order: the files in the order given (batch scoring passes the newest
added first, :func:`leadscore.batch.score.newest_first`) and each file's row groups and rows in order. When a
``lead_id`` occurs more than once (gold's quality gate forbids it, but a gold version written by another tool
may slip through), the first occurrence in that order is scored and every later one is skipped
(:func:`repeated_rows`, :func:`with_skips`), so a re-run writes the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group of a gold file."""

    file: str
    index: int
    rows: int


@dataclass(frozen=True)
class Segment:
    """Rows ``[start, stop)`` of one row group; ``skip``: offsets within ``[0, stop - start)`` not to score."""

    file: str
    row_group: int
    start: int
    stop: int
    skip: tuple[int, ...] = ()

    @property
    def rows(self) -> int:
        """Rows this segment scores."""
        return self.stop - self.start - len(self.skip)


@dataclass(frozen=True)
class Unit:
    """What one scoring task reads, scores and writes to one Parquet file."""

    index: int
    segments: tuple[Segment, ...]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.segments)


def row_groups(files: list[str]) -> list[RowGroup]:
    """Every row group of ``files`` (local paths), in the global row order."""
    out: list[RowGroup] = []
    for file in files:
        meta = pq.ParquetFile(file).metadata
        out += [RowGroup(file, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    return out


def plan_units(groups: list[RowGroup], tasks: int) -> list[Unit]:
    """Split the rows of ``groups`` into at most ``tasks`` units of nearly equal size (none empty), keeping
    the global row order: unit 0 takes the first rows, unit 1 the next, and so on."""
    if tasks < 1:
        raise ValueError(f"tasks must be at least 1, got {tasks}")
    total = sum(g.rows for g in groups)
    if total == 0:
        return []
    count = min(tasks, total)
    bounds = [total * k // count for k in range(count + 1)]  # unit k holds global rows [bounds[k], bounds[k+1])
    units: list[list[Segment]] = [[] for _ in range(count)]
    offset, k = 0, 0
    for group in groups:
        start = 0
        while start < group.rows:
            while offset + start >= bounds[k + 1]:
                k += 1
            stop = min(group.rows, bounds[k + 1] - offset)
            units[k].append(Segment(group.file, group.index, start, stop))
            start = stop
        offset += group.rows
    return [Unit(i, tuple(segments)) for i, segments in enumerate(units)]


def repeated_rows(files: list[str], column: str = "lead_id") -> np.ndarray:
    """Global positions (sorted) of the rows whose ``column`` value occurred at an earlier position."""
    parts = [pq.ParquetFile(f).read(columns=[column]).column(0) for f in files]
    if sum(len(p) for p in parts) < 2:
        return np.empty(0, dtype=np.int64)
    kind = parts[0].type
    ids = pa.chunked_array([c if c.type == kind else c.cast(kind) for p in parts for c in p.chunks], type=kind)
    order = pc.sort_indices(ids)  # stable: equal ids keep their global order
    ranked = ids.take(order)
    same = pc.equal(ranked.slice(1), ranked.slice(0, len(ranked) - 1))
    if not pc.any(same).as_py():
        return np.empty(0, dtype=np.int64)
    later = np.flatnonzero(same.to_numpy(zero_copy_only=False)) + 1  # each a repeat of the row ranked before
    return np.sort(order.to_numpy()[later])


def with_skips(units: list[Unit], groups: list[RowGroup], skip: np.ndarray) -> list[Unit]:
    """``units`` with the rows at global positions ``skip`` marked as skipped in their segments."""
    if skip.size == 0:
        return units
    first_row: dict[tuple[str, int], int] = {}
    offset = 0
    for group in groups:
        first_row[(group.file, group.index)] = offset
        offset += group.rows
    out: list[Unit] = []
    for unit in units:
        segments = []
        for seg in unit.segments:
            base = first_row[(seg.file, seg.row_group)] + seg.start
            lo, hi = np.searchsorted(skip, [base, base + seg.stop - seg.start])
            segments.append(replace(seg, skip=tuple(int(p - base) for p in skip[lo:hi])))
        out.append(Unit(unit.index, tuple(segments)))
    return out
