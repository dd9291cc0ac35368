"""Delta table I/O with two engines behind one interface.

- **Spark-native** (``format("delta")``) when the session has the Delta extension configured, i.e. on
  a cluster whose image ships the ``delta-spark`` jars.
- **delta-rs** (the ``deltalake`` package) otherwise, e.g. on this machine where the jars cannot be
  downloaded: Spark writes Parquet to a staging directory (distributed, native), then delta-rs
  commits a genuine Delta version by streaming those files as Arrow batches (bounded memory). Reads
  resolve the snapshot's file list with delta-rs and let Spark read the Parquet files natively.

Both engines produce standard Delta tables (``_delta_log``), so either can read what the other wrote,
and every write is a new version (history, time travel).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema

from leadscore.lakehouse.spark import has_delta_extension

Mode = Literal["append", "overwrite"]


@dataclass(frozen=True)
class TableVersion:
    """A table and the version a write produced (or the current one)."""

    table: str
    version: int
    rows: int | None = None


class DeltaIO:
    """Read and write the lake's Delta tables (``<lake>/<layer>/<name>``).

    Args:
        spark: the session; its configuration picks the engine.
        lake: lake root (local path).
        native: force the engine (default: Spark-native iff the Delta extension is configured).
    """

    def __init__(self, spark: SparkSession, lake: Path | str, native: bool | None = None) -> None:
        self.spark = spark
        self.lake = Path(lake)
        self.native = has_delta_extension(spark) if native is None else native

    @property
    def engine(self) -> str:
        """``spark-delta`` or ``delta-rs``."""
        return "spark-delta" if self.native else "delta-rs"

    def path(self, table: str) -> Path:
        """Filesystem path of ``table`` (e.g. ``gold/lead_features``)."""
        return self.lake / table

    def exists(self, table: str) -> bool:
        """True when the table has a Delta log."""
        return (self.path(table) / "_delta_log").is_dir()

    def version(self, table: str) -> int | None:
        """Current version, or None when the table does not exist."""
        if not self.exists(table):
            return None
        from deltalake import DeltaTable

        return int(DeltaTable(str(self.path(table))).version())

    def history(self, table: str) -> list[dict[str, Any]]:
        """Commit history, newest first (version, timestamp, operation, custom metadata)."""
        from deltalake import DeltaTable

        return list(DeltaTable(str(self.path(table))).history())

    def write(self, df: DataFrame, table: str, mode: Mode, metadata: dict[str, str] | None = None) -> TableVersion:
        """Write ``df`` as a new version of ``table`` (created on first write).

        Args:
            df: rows to write.
            table: ``layer/name``.
            mode: ``append`` or ``overwrite`` (overwrite replaces data and schema).
            metadata: recorded in the commit (e.g. the batch id).

        Returns:
            The version written.
        """
        path = self.path(table)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.native:
            writer = df.write.format("delta").mode(mode)
            if mode == "overwrite":
                writer = writer.option("overwriteSchema", "true")
            for key, value in (metadata or {}).items():
                writer = writer.option(f"userMetadata_{key}", value)
            writer.save(str(path))
            row = self.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]
            return TableVersion(table, int(row["version"]))
        return self._write_rs(df, table, mode, metadata or {})

    def _write_rs(self, df: DataFrame, table: str, mode: Mode, metadata: dict[str, str]) -> TableVersion:
        from deltalake import CommitProperties, DeltaTable, write_deltalake

        path = self.path(table)
        staging = self.lake / "_staging" / f"{table.replace('/', '__')}-{uuid.uuid4().hex[:8]}"
        try:
            df.write.mode("overwrite").parquet(str(staging))
            dataset = pads.dataset(str(staging), format="parquet")
            schema = _spark_schema_as_arrow(df)
            batches = (b.cast(schema) if b.schema != schema else b for b in dataset.to_batches())
            reader = pa.RecordBatchReader.from_batches(schema, batches)
            write_deltalake(
                str(path),
                reader,
                mode=mode,
                schema_mode="overwrite" if mode == "overwrite" else None,
                commit_properties=CommitProperties(custom_metadata=metadata),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return TableVersion(table, int(DeltaTable(str(path)).version()))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """Read ``table`` (at ``version`` for time travel) as a Spark DataFrame."""
        path = self.path(table)
        if self.native:
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            return reader.load(str(path))
        from deltalake import DeltaTable

        dt = DeltaTable(str(path), version=version)
        schema = from_arrow_schema(pa.schema(dt.schema().to_arrow()))
        files = dt.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(*files)

    def read_arrow(self, table: str, version: int | None = None) -> pa.Table:
        """Read ``table`` into Arrow on the driver (small tables, tests, training)."""
        from deltalake import DeltaTable

        return DeltaTable(str(self.path(table)), version=version).to_pyarrow_table()


def _spark_schema_as_arrow(df: DataFrame) -> pa.Schema:
    """Arrow schema of a Spark DataFrame with UTC timestamps (what Spark's Parquet files hold)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(df.schema)
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC") if pa.types.is_timestamp(f.type) else f.type, True)
        for f in schema
    ]
    return pa.schema(fields)
