"""Event files are read by Spark itself, with the file's exact line numbers, across many scan splits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from pyspark.sql import SparkSession

from leadscore.lakehouse.bronze import event_lines
from leadscore.lakehouse.sources import TextLines


def test_line_numbers_are_the_files_own_across_splits(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "web_events.jsonl"
    lines = []
    for i in range(1, 3001):
        if i % 97 == 0:
            lines.append("")  # blank lines keep their number and are skipped
        elif i % 211 == 0:
            lines.append("{not json")  # bad lines are kept for bronze to quarantine by number
        else:
            lines.append(json.dumps({"event_id": f"e{i}", "lead_id": f"L{i % 50}", "line": i}))
    path.write_text("\n".join(lines) + "\n")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # ~40 splits of this file
    try:
        df, n = event_lines(spark, TextLines(str(path), path.stat().st_size))
        got = {r["_line"]: r["raw"] for r in df.collect()}
        assert df.rdd.getNumPartitions() > 10
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    want = {i: text for i, text in enumerate(lines, start=1) if text.strip()}
    assert n == len(want) == len(got)
    assert got == want  # every line, with its own number


def test_crm_rows_keep_their_numbers(spark: SparkSession) -> None:
    table = pa.table({"_line": pa.array([7, 9], pa.int64()), "raw": pa.array(['{"a": 1}', "{}"])})
    df, n = event_lines(spark, table)
    assert n == 2 and sorted((r["_line"], r["raw"]) for r in df.collect()) == [(7, '{"a": 1}'), (9, "{}")]
