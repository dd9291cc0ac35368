"""Delta I/O via delta-rs on this machine: genuine Delta tables, history, time travel."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from leadscore.lakehouse.delta_io import DeltaIO

pytestmark = pytest.mark.spark


def test_versions_history_and_time_travel(spark: SparkSession, tmp_path: Path) -> None:
    io = DeltaIO(spark, tmp_path)
    assert io.engine == "delta-rs" and not io.exists("gold/t")
    first = spark.createDataFrame([("a", 1.0), ("b", 2.0)], "lead_id string, x double")
    v0 = io.write(first, "gold/t", "overwrite", metadata={"batch_id": "b0"})
    v1 = io.write(
        spark.createDataFrame([("c", 3.0)], "lead_id string, x double"), "gold/t", "append", metadata={"batch_id": "b1"}
    )
    assert (v0.version, v1.version) == (0, 1)
    assert io.read("gold/t").count() == 3
    assert sorted(r.lead_id for r in io.read("gold/t", version=0).collect()) == ["a", "b"]
    table = DeltaTable(str(tmp_path / "gold/t"))
    history = table.history()
    assert [h["version"] for h in history] == [1, 0]
    assert history[0].get("batch_id") == "b1"
    assert table.to_pyarrow_table().num_rows == 3


def test_overwrite_replaces_schema_and_empty_reads(spark: SparkSession, tmp_path: Path) -> None:
    io = DeltaIO(spark, tmp_path)
    io.write(spark.createDataFrame([("a", 1)], "k string, n int"), "silver/s", "overwrite")
    io.write(spark.createDataFrame([("a", "x")], "k string, m string"), "silver/s", "overwrite")
    assert io.read("silver/s").columns == ["k", "m"]
    io.write(spark.createDataFrame([], "k string, m string"), "silver/e", "overwrite")
    assert io.read("silver/e").count() == 0
