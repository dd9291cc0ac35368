"""Storage locations: one parser for local paths and s3:// URIs, the S3 settings and the lake setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leadscore_core.settings import HomeSettings
from leadscore_core.storage import S3Settings, StorageUri, StorageUriError, storage_options


@pytest.mark.parametrize(
    ("text", "bucket", "key", "shown"),
    [
        ("s3://leadscore-lake/lake", "leadscore-lake", "lake", "s3://leadscore-lake/lake"),
        ("s3://leadscore-lake/a/b/", "leadscore-lake", "a/b", "s3://leadscore-lake/a/b"),
        ("s3a://my.bucket-1//x//y", "my.bucket-1", "x/y", "s3://my.bucket-1/x/y"),
        ("s3://abc", "abc", "", "s3://abc"),
    ],
)
def test_s3_uris_parse_and_print_back(text: str, bucket: str, key: str, shown: str) -> None:
    uri = StorageUri.parse(text)
    assert (uri.scheme, uri.bucket, uri.key, str(uri)) == ("s3", bucket, key, shown)
    assert not uri.is_local
    assert StorageUri.parse(str(uri)) == uri
    assert uri.spark_uri() == shown.replace("s3://", "s3a://")
    with pytest.raises(StorageUriError, match="not a local path"):
        _ = uri.local_path


@pytest.mark.parametrize("text", ["lake", "./a/lake", "/tmp/x/lake", "file:///tmp/x/lake"])
def test_local_paths_stay_local(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = StorageUri.parse(text)
    assert uri.is_local
    expected = Path(text.removeprefix("file://")).absolute()
    assert uri.local_path == expected and str(uri) == str(expected)
    assert (uri / "gold/lead_features").local_path == expected / "gold" / "lead_features"
    assert StorageUri.parse(Path(text.removeprefix("file://"))).local_path == expected


def test_joining_below_an_s3_root() -> None:
    root = StorageUri.parse("s3://bucket-a/lake")
    assert str(root / "gold/lead_features") == "s3://bucket-a/lake/gold/lead_features"
    assert str(StorageUri.parse("s3://bucket-a") / "/_runs/x.json") == "s3://bucket-a/_runs/x.json"
    assert (root / "gold/lead_features").name == "lead_features"
    with pytest.raises(StorageUriError, match=r"'\.\.'"):
        _ = root / "../other"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("gs://bucket/lake", "unsupported scheme gs://"),
        ("hdfs://nn/lake", "unsupported scheme hdfs://"),
        ("s3://Bad_Bucket/lake", "not a valid S3 bucket name"),
        ("s3://ab/lake", "not a valid S3 bucket name"),
        ("s3:///lake", "not a valid S3 bucket name"),
        ("s3://bucket/../etc", "not allowed"),
    ],
)
def test_unusable_locations_say_why(text: str, why: str) -> None:
    with pytest.raises(StorageUriError, match=why):
        StorageUri.parse(text)


def test_s3_settings_read_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("LEADSCORE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "LEADSCORE_S3_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("LEADSCORE_S3_CONNECT_TIMEOUT", "1.5")
    s3 = S3Settings()
    assert s3.endpoint_url == "http://127.0.0.1:9000" and s3.region == "eu-west-1" and s3.allow_http
    options = s3.delta_options()
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000" and options["AWS_ALLOW_HTTP"] == "true"
    assert options["connect_timeout"] == "1.5s" and options["AWS_REGION"] == "eu-west-1"
    assert storage_options("s3://bucket-a/t", s3) == options and storage_options("/tmp/t", s3) is None
    monkeypatch.setenv("LEADSCORE_S3_ENDPOINT_URL", "https://s3.example.com")  # the project's own name wins
    assert S3Settings().endpoint_url == "https://s3.example.com" and "AWS_ALLOW_HTTP" in S3Settings().delta_options()
    assert S3Settings().delta_options()["AWS_ALLOW_HTTP"] == "false"


def test_aws_itself_needs_no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("LEADSCORE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    s3 = S3Settings()
    assert "AWS_ENDPOINT_URL" not in s3.delta_options() and s3.endpoint_label.startswith("AWS S3")


def test_a_bad_endpoint_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_S3_ENDPOINT_URL", "127.0.0.1:9000")
    with pytest.raises(ValidationError, match="http"):
        S3Settings()


def test_the_lake_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSCORE_LAKE", raising=False)
    monkeypatch.delenv("LEADSCORE_MLFLOW_ARTIFACTS", raising=False)
    home = HomeSettings(home=tmp_path / "h")
    assert home.lake.local_path == (tmp_path / "h" / "lake").absolute()
    assert home.artifact_root == (tmp_path / "h" / "mlflow" / "artifacts").resolve().as_uri()
    monkeypatch.setenv("LEADSCORE_LAKE", "s3://leadscore-lake/prod")
    monkeypatch.setenv("LEADSCORE_MLFLOW_ARTIFACTS", "s3://leadscore-lake/mlflow")
    home = HomeSettings(home=tmp_path / "h")
    assert str(home.lake) == "s3://leadscore-lake/prod"
    assert str(home.lake / "bronze/inference_log") == "s3://leadscore-lake/prod/bronze/inference_log"
    assert home.artifact_root == "s3://leadscore-lake/mlflow"
