"""Delta table I/O with two engines behind one interface.

- **Spark-native** (``format("delta")``) when the session has the Delta extension configured, i.e. on
  a cluster whose image ships the ``delta-spark`` jars.
- **delta-rs** (the ``deltalake`` package) otherwise, e.g. on this machine where the jars cannot be
  downloaded: Spark writes Parquet to a staging directory (distributed, native), then delta-rs
  commits a genuine Delta version by streaming those files as Arrow batches (bounded memory). Reads
  resolve the snapshot's file list with delta-rs and let Spark read the Parquet files natively.

Both engines produce standard Delta tables (``_delta_log``), so either can read what the other wrote,
and every write is a new version (history, time travel).

**Object storage.** The lake is a :class:`~leadscore_core.storage.StorageUri`: a local path or
``s3://bucket/prefix``. With delta-rs, Spark only computes: it writes its Parquet staging to a local
temporary directory and reads a snapshot's files from local copies (:meth:`ObjectStore.fetch_files`), while
delta-rs commits to and reads from S3 itself. So this machine's Spark, which has no hadoop-aws jars (no
``s3a://`` filesystem), still builds an S3 lake. Spark-native Delta on a cluster uses ``s3a://`` directly
(the image or ``--packages`` must bring hadoop-aws with delta-spark).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema

from leadscore.lakehouse.spark import has_delta_extension
from leadscore.objectstore import ObjectStore
from leadscore_core.storage import StorageUri

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
        lake: lake root (local path or ``s3://bucket/prefix``).
        native: force the engine (default: Spark-native iff the Delta extension is configured).

    Call :meth:`close` when the DataFrames it returned are no longer used (it removes local copies).
    """

    def __init__(
        self,
        spark: SparkSession,
        lake: StorageUri | Path | str,
        native: bool | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.spark = spark
        self.store = store or ObjectStore(lake)
        self.lake = self.store.root
        self.native = has_delta_extension(spark) if native is None else native
        self._scratch: Path | None = None

    def scratch(self) -> Path:
        """A local directory for staging and snapshot copies, removed by :meth:`close`."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="leadscore-delta-"))
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @property
    def engine(self) -> str:
        """``spark-delta`` or ``delta-rs``."""
        return "spark-delta" if self.native else "delta-rs"

    def path(self, table: str) -> str:
        """Location of ``table`` (e.g. ``gold/lead_features``) as Spark-native Delta opens it."""
        return self.store.uri(table).spark_uri()

    def exists(self, table: str) -> bool:
        """True when the table has a Delta log."""
        return self.store.delta_exists(table)

    def version(self, table: str) -> int | None:
        """Current version, or None when the table does not exist."""
        if not self.exists(table):
            return None
        return int(self.store.delta(table).version())

    def history(self, table: str) -> list[dict[str, Any]]:
        """Commit history, newest first (version, timestamp, operation, custom metadata)."""
        with self.store.errors(f"reading the history of {table}"):
            return list(self.store.delta(table).history())

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
        if self.native:
            path = self.path(table)
            writer = df.write.format("delta").mode(mode)
            if mode == "overwrite":
                writer = writer.option("overwriteSchema", "true")
            for key, value in (metadata or {}).items():
                writer = writer.option(f"userMetadata_{key}", value)
            writer.save(path)
            row = self.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]
            return TableVersion(table, int(row["version"]))
        return self._write_rs(df, table, mode, metadata or {})

    def _write_rs(self, df: DataFrame, table: str, mode: Mode, metadata: dict[str, str]) -> TableVersion:
        from deltalake import CommitProperties

        # Spark stages Parquet on a local disk (beside a local lake, else in a scratch dir); delta-rs commits it
        base = self.lake.local_path / "_staging" if self.lake.is_local else self.scratch() / "_staging"
        staging = base / f"{table.replace('/', '__')}-{uuid.uuid4().hex[:8]}"
        try:
            df.write.mode("overwrite").parquet(str(staging))
            dataset = pads.dataset(str(staging), format="parquet")
            schema = _spark_schema_as_arrow(df)
            batches = (b.cast(schema) if b.schema != schema else b for b in dataset.to_batches())
            reader = pa.RecordBatchReader.from_batches(schema, batches)
            version = self.store.write_delta(
                table,
                reader,
                mode=mode,
                schema_mode="overwrite" if mode == "overwrite" else None,
                commit_properties=CommitProperties(custom_metadata=metadata),
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return TableVersion(table, version)

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """Read ``table`` (at ``version`` for time travel) as a Spark DataFrame."""
        if self.native:
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            return reader.load(self.path(table))
        dt = self.store.delta(table, version)
        schema = from_arrow_schema(pa.schema(dt.schema().to_arrow()))
        files = self.spark_files(dt)
        if not files:
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(*files)

    def spark_files(self, dt: Any) -> list[str]:
        """The snapshot's Parquet files where this Spark can read them (local copies of S3 objects)."""
        return self.store.fetch_files(list(dt.file_uris()), self.scratch() / "snapshots")

    def read_arrow(self, table: str, version: int | None = None) -> pa.Table:
        """Read ``table`` into Arrow on the driver (small tables, tests, training)."""
        with self.store.errors(f"reading {table}"):
            return self.store.delta(table, version).to_pyarrow_table()


def _spark_schema_as_arrow(df: DataFrame) -> pa.Schema:
    """Arrow schema of a Spark DataFrame with UTC timestamps (what Spark's Parquet files hold)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(df.schema)
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC") if pa.types.is_timestamp(f.type) else f.type, True)
        for f in schema
    ]
    return pa.schema(fields)
