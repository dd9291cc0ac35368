"""`leadscore.objectstore.bound_boto_clients`: MLflow's own S3 artifact client carries the S3 settings' bounds
(no network: the client's configuration is read back)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from leadscore.objectstore import bound_boto_clients
from leadscore_core.storage import S3Settings


@pytest.fixture
def default_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh boto3 default session and MLflow client cache (an earlier test of the same process may have
    bound them already), the process's own put back after the test."""
    from mlflow.store.artifact import s3_artifact_repo

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    s3_artifact_repo._cached_get_s3_client.cache_clear()
    yield
    s3_artifact_repo._cached_get_s3_client.cache_clear()


def _mlflow_client_config():  # noqa: ANN202
    from mlflow.store.artifact.s3_artifact_repo import _get_s3_client

    return _get_s3_client().meta.config


def test_mlflow_s3_client_gets_the_bounds_even_when_made_before(default_session: None) -> None:
    unbounded = _mlflow_client_config()  # made and cached before the bounds: botocore's 60 s defaults
    assert (unbounded.connect_timeout, unbounded.read_timeout) == (60, 60)
    bound_boto_clients(S3Settings(connect_timeout=1.5, request_timeout=2.5, max_retries=1, region="eu-west-1"))
    config = _mlflow_client_config()
    assert (config.connect_timeout, config.read_timeout) == (1.5, 2.5)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}  # the first try and one retry
    assert config.region_name == "eu-west-1"
    assert config.signature_version == "s3v4"  # MLflow's own settings are kept: merged over the default


def test_our_client_and_mlflows_share_one_source_of_bounds() -> None:
    s3 = S3Settings(connect_timeout=3, request_timeout=7, max_retries=4)
    assert s3.boto_config() == {
        "region_name": s3.region,
        "connect_timeout": 3,
        "read_timeout": 7,
        "retries": {"total_max_attempts": 5, "mode": "standard"},
    }
