"""``ObjectStore.overwrite_with_files``: Parquet files written elsewhere (the batch scoring workers) become one
Delta version, on a local lake and on S3 (moto's S3 API emulator); a refused commit leaves no file behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from leadscore.objectstore import ObjectStore

SCHEMA = pa.schema([("lead_id", pa.string()), ("score", pa.int64()), ("at", pa.timestamp("us", "UTC"))])
TABLE = "gold/lead_scores"


def _parts(folder: Path, tag: str, sizes: list[int]) -> list[tuple[Path, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    out, start = [], 0
    for i, n in enumerate(sizes):
        ids = [f"{tag}{k:04d}" for k in range(start, start + n)]
        table = pa.table({"lead_id": ids, "score": list(range(start, start + n)), "at": [0] * n}, schema=SCHEMA)
        pq.write_table(table, folder / f"part-{i:05d}-{tag}.parquet")
        out.append((folder / f"part-{i:05d}-{tag}.parquet", n))
        start += n
    return out


def _refuse(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    raise OSError("commit refused (test)")


@pytest.mark.parametrize("sizes", [[5], [3, 0, 7], []])
def test_local_files_become_one_version_then_replace_it(tmp_path: Path, sizes: list[int]) -> None:
    store = ObjectStore(tmp_path / "lake")
    folder = tmp_path / "lake" / TABLE
    assert store.overwrite_with_files(TABLE, _parts(folder, "a", [4, 4]), SCHEMA) == 0
    version = store.overwrite_with_files(TABLE, _parts(folder, "b", sizes), SCHEMA)
    table = DeltaTable(str(folder))
    assert version == table.version() == 1
    got = table.to_pyarrow_table()
    assert sorted(got.column("lead_id").to_pylist()) == [f"b{k:04d}" for k in range(sum(sizes))]
    assert got.schema.field("at").type == pa.timestamp("us", "UTC")


def test_a_refused_local_commit_keeps_the_last_version_and_removes_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ObjectStore(tmp_path / "lake")
    folder = tmp_path / "lake" / TABLE
    store.overwrite_with_files(TABLE, _parts(folder, "a", [6]), SCHEMA)
    before = sorted(p.name for p in folder.iterdir())
    with monkeypatch.context() as patch, pytest.raises(OSError, match="commit refused"):
        patch.setattr(DeltaTable, "create_write_transaction", _refuse)
        store.overwrite_with_files(TABLE, _parts(folder, "b", [2, 3]), SCHEMA)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert DeltaTable(str(folder)).to_pyarrow_table().num_rows == 6


def test_a_file_outside_the_table_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "elsewhere", "a", [2])
    with pytest.raises(ValueError, match="not in the folder of Delta table"):
        ObjectStore(tmp_path / "lake").overwrite_with_files(TABLE, parts, SCHEMA)
    assert parts[0][0].is_file() and not (tmp_path / "lake" / TABLE / "_delta_log").exists()


@pytest.fixture
def s3_lake(s3_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """An S3 lake root on the emulator; returns a lister of the table's keys."""
    for key, value in {
        "AWS_ENDPOINT_URL": s3_emulator,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_emulator, region_name="us-east-1")
    client.create_bucket(Bucket="lake")

    def keys() -> list[str]:
        found = client.list_objects_v2(Bucket="lake", Prefix=f"p/{TABLE}/")
        return sorted(o["Key"] for o in found.get("Contents", []) if "_delta_log" not in o["Key"])

    return keys


def test_s3_files_are_uploaded_committed_and_a_refused_commit_removes_them(
    tmp_path: Path, s3_lake: Callable[[], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ObjectStore("s3://lake/p")
    assert store.overwrite_with_files(TABLE, _parts(tmp_path / "one", "a", [3, 4]), SCHEMA) == 0
    committed = s3_lake()
    assert committed == [f"p/{TABLE}/part-0000{i}-a.parquet" for i in range(2)]
    assert store.delta(TABLE).to_pyarrow_table().num_rows == 7

    with monkeypatch.context() as patch, pytest.raises(OSError, match="commit refused"):
        patch.setattr(DeltaTable, "create_write_transaction", _refuse)
        store.overwrite_with_files(TABLE, _parts(tmp_path / "two", "b", [5]), SCHEMA)
    assert s3_lake() == committed and store.delta(TABLE).version() == 0

    assert store.overwrite_with_files(TABLE, _parts(tmp_path / "three", "c", [2]), SCHEMA) == 1
    assert sorted(store.delta(TABLE).to_pyarrow_table().column("lead_id").to_pylist()) == ["c0000", "c0001"]
