"""Planning the scoring tasks: every gold row in exactly one unit, in order, units balanced; a repeated lead_id
scored once, at its first row in the global order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.batch.plan import RowGroup, Segment, Unit, plan_units, repeated_rows, row_groups, with_skips


def _rows_of(units: list[Unit], groups: list[RowGroup]) -> list[int]:
    """Global positions each unit covers, in unit order (skipped rows left out)."""
    first = {}
    offset = 0
    for g in groups:
        first[(g.file, g.index)] = offset
        offset += g.rows
    out = []
    for unit in units:
        for s in unit.segments:
            base = first[(s.file, s.row_group)] + s.start
            out += [base + i for i in range(s.stop - s.start) if i not in s.skip]
    return out


@pytest.mark.parametrize(
    ("sizes", "tasks"),
    [([1_000_000], 2), ([10, 10, 10], 2), ([5, 0, 7], 3), ([3], 8), ([100, 1, 1, 1, 250], 4), ([0, 0], 2), ([17], 1)],
)
def test_units_cover_every_row_once_in_order_and_are_balanced(sizes: list[int], tasks: int) -> None:
    groups = [RowGroup(f"f{i // 2}", i % 2, n) for i, n in enumerate(sizes)]
    units = plan_units(groups, tasks)
    total = sum(sizes)
    assert len(units) == min(tasks, total) and [u.index for u in units] == list(range(len(units)))
    assert _rows_of(units, groups) == list(range(total))
    if units:
        rows = [u.rows for u in units]
        assert min(rows) >= 1 and max(rows) - min(rows) <= 1
    assert all(s.stop > s.start for u in units for s in u.segments)


def test_tasks_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tasks must be at least 1"):
        plan_units([RowGroup("f", 0, 3)], 0)


def test_row_groups_lists_every_group_of_every_file_in_order(tmp_path: Path) -> None:
    table = pa.table({"a": list(range(1000))})
    pq.write_table(table, tmp_path / "one.parquet", row_group_size=300)
    pq.write_table(table, tmp_path / "two.parquet")
    files = [str(tmp_path / "one.parquet"), str(tmp_path / "two.parquet")]
    assert row_groups(files) == [
        RowGroup(files[0], 0, 300),
        RowGroup(files[0], 1, 300),
        RowGroup(files[0], 2, 300),
        RowGroup(files[0], 3, 100),
        RowGroup(files[1], 0, 1000),
    ]


@pytest.mark.parametrize(("n", "distinct", "seed"), [(1, 1, 0), (50, 50, 1), (400, 120, 2), (3000, 2990, 3)])
def test_repeated_rows_are_every_occurrence_after_the_first(tmp_path: Path, n: int, distinct: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"L{v:05d}" for v in rng.integers(0, distinct, n)] if distinct < n else [f"L{v:05d}" for v in range(n)]
    half = n // 2
    schema = pa.schema([("lead_id", pa.string()), ("x", pa.int64())])
    for name, part in (("a", ids[:half]), ("b", ids[half:])):
        table = pa.table({"lead_id": part, "x": list(range(len(part)))}, schema=schema)
        pq.write_table(table, tmp_path / f"{name}.parquet")
    seen: set[str] = set()
    want = []
    for pos, lead in enumerate(ids):
        if lead in seen:
            want.append(pos)
        seen.add(lead)
    got = repeated_rows([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    assert got.tolist() == want


@pytest.mark.parametrize(("sizes", "tasks", "seed"), [([40, 25, 35], 3, 4), ([100], 2, 5), ([9, 9], 5, 6)])
def test_skipped_rows_leave_the_first_of_each_lead_in_the_units(sizes: list[int], tasks: int, seed: int) -> None:
    """Planned over real positions: what the units still score is each lead's first row, once."""
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    ids = rng.integers(0, total // 2, total)
    skip = np.array([p for p in range(total) if ids[p] in set(ids[:p])], dtype=np.int64)
    groups = [RowGroup("f", i, n) for i, n in enumerate(sizes)]
    units = with_skips(plan_units(groups, tasks), groups, skip)
    kept = _rows_of(units, groups)
    assert kept == sorted({int(v): p for p, v in reversed(list(enumerate(ids)))}.values())
    assert sum(u.rows for u in units) == len(set(ids.tolist()))


def test_no_skips_returns_the_units_unchanged() -> None:
    units = [Unit(0, (Segment("f", 0, 0, 5),))]
    assert with_skips(units, [RowGroup("f", 0, 5)], np.empty(0, dtype=np.int64)) is units
