"""Reading the bronze Delta inference log (delta-rs) for the scheduled analysis and outcome feedback."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from leadscore_core.storage import storage_options


def read_log(
    uri: str, start: date | None = None, end: date | None = None, columns: list[str] | None = None
) -> pa.Table:
    """Rows of the inference log with ``start <= date <= end`` (partition pruning on ``date``).

    Raises:
        FileNotFoundError: no Delta table at ``uri``.
    """
    try:
        table = DeltaTable(uri, storage_options=storage_options(uri))
    except Exception as exc:  # deltalake raises TableNotFoundError
        raise FileNotFoundError(f"{uri}: no Delta inference log ({exc})") from exc
    dataset = table.to_pyarrow_dataset()
    expr = None
    if start is not None:
        expr = pc.field("date") >= start.isoformat()
    if end is not None:
        e = pc.field("date") <= end.isoformat()
        expr = e if expr is None else expr & e
    return dataset.to_table(filter=expr, columns=columns)


def parse_day(raw: str | None) -> date:
    return date.fromisoformat(raw) if raw else (datetime.now().date() - timedelta(days=1))
