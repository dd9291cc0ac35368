"""Storage locations as URIs: a local path or ``s3://bucket/prefix``, parsed and joined in one place.

The lake root (``--lake``, ``LEADSCORE_LAKE``), the MLflow artifact root (``LEADSCORE_MLFLOW_ARTIFACTS``) and
the tables under them are :class:`StorageUri` values everywhere, never a ``pathlib.Path`` that would turn
``s3://bucket/lake`` into a local folder named ``s3:``. :class:`S3Settings` holds the S3 endpoint, region
and the bounds on every request (connect/request timeouts, retries), in one place: :meth:`S3Settings.delta_options`
is the ``storage_options`` dict delta-rs takes, :meth:`S3Settings.boto_config` the ``botocore`` client config
(the tools' own boto3 clients and MLflow's S3 artifact client).

Dependency-light on purpose: no boto3, no pyarrow. The tools image does the I/O
(:mod:`leadscore.objectstore`); the monitors image passes :meth:`S3Settings.delta_options` to delta-rs.

Public names: :class:`StorageUri`, :class:`StorageUriError`, :class:`StorageUnreachable`, :class:`S3Settings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageUriError(ValueError):
    """A storage location that cannot be used; the message names it and says why."""


class StorageUnreachable(ConnectionError):
    """The object store did not answer within its bounds (a transient failure: the workflows retry it)."""


@dataclass(frozen=True)
class StorageUri:
    """A local path (``scheme == "file"``) or an S3 location (``scheme == "s3"``, ``bucket`` + ``key``)."""

    scheme: str
    bucket: str
    key: str
    """S3: the key prefix, no leading or trailing ``/``. Local: the path as given (``~`` expanded)."""

    @classmethod
    def parse(cls, value: str | Path | StorageUri) -> StorageUri:
        """``/data/lake``, ``lake``, ``file:///data/lake``, ``s3://bucket/prefix`` (``s3a://`` too).

        Raises:
            StorageUriError: empty, an unsupported scheme, a bad bucket name, or ``..`` in an S3 key.
        """
        if isinstance(value, StorageUri):
            return value
        if isinstance(value, Path):
            return cls("file", "", str(value.expanduser()))
        text = str(value).strip()
        if not text:
            raise StorageUriError("empty storage location: give a local path or s3://bucket/prefix")
        m = _SCHEME.match(text)
        if m is None:
            return cls("file", "", str(Path(text).expanduser()))
        scheme, rest = m.group("scheme").lower(), m.group("rest")
        if scheme == "file":
            return cls("file", "", rest or "/")
        if scheme not in ("s3", "s3a"):
            raise StorageUriError(
                f"{text}: unsupported scheme {scheme}:// (use a local path, file:// or s3://bucket/prefix)"
            )
        bucket, _, key = rest.partition("/")
        if not _BUCKET.match(bucket):
            raise StorageUriError(
                f"{text}: {bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')"
            )
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise StorageUriError(f"{text}: '.' and '..' are not allowed in an S3 key")
        return cls("s3", bucket, "/".join(parts))

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def local_path(self) -> Path:
        """The local path (absolute).

        Raises:
            StorageUriError: an ``s3://`` location has no local path.
        """
        if not self.is_local:
            raise StorageUriError(f"{self}: not a local path")
        return Path(self.key).absolute()

    def __truediv__(self, part: str) -> StorageUri:
        """``uri / "gold/lead_features"``: a location below this one."""
        if self.is_local:
            return StorageUri("file", "", str(Path(self.key) / part))
        extra = [p for p in str(part).split("/") if p]
        if any(p in (".", "..") for p in extra):
            raise StorageUriError(f"{part!r}: '.' and '..' are not allowed in an S3 key")
        return StorageUri("s3", self.bucket, "/".join([*([self.key] if self.key else []), *extra]))

    @property
    def name(self) -> str:
        """The last path segment (``""`` for a bucket root)."""
        return Path(self.key).name if self.is_local else self.key.rpartition("/")[2]

    def __str__(self) -> str:
        """The form every tool takes: an absolute local path, or ``s3://bucket/key``."""
        if self.is_local:
            return str(self.local_path)
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def spark_uri(self) -> str:
        """The same location for Spark's Hadoop filesystems (``s3a://`` needs hadoop-aws on the classpath)."""
        return str(self) if self.is_local else f"s3a://{self.bucket}/{self.key}".rstrip("/")


class S3Settings(BaseSettings):
    """How the tools reach S3 (or an S3-compatible store). Credentials are never settings here: they come from
    the usual ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (or a role), read by the
    client libraries themselves."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_S3_", extra="ignore", populate_by_name=True)

    endpoint_url: str = Field(
        default="",
        validation_alias=AliasChoices(
            "LEADSCORE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"
        ),
    )
    """S3 API endpoint, e.g. ``http://minio:9000`` (``LEADSCORE_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3``,
    ``AWS_ENDPOINT_URL`` or ``MLFLOW_S3_ENDPOINT_URL``); empty: AWS S3 itself for the region."""
    region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("LEADSCORE_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    """Region (``LEADSCORE_S3_REGION``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to open a connection to the endpoint (``LEADSCORE_S3_CONNECT_TIMEOUT``)."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds one request may take once connected (``LEADSCORE_S3_REQUEST_TIMEOUT``)."""
    max_retries: int = Field(default=2, ge=0)
    """Retries of a failed request after the first try (``LEADSCORE_S3_MAX_RETRIES``)."""
    retry_timeout: float = Field(default=20.0, gt=0)
    """delta-rs: give up retrying one request after this many seconds (``LEADSCORE_S3_RETRY_TIMEOUT``)."""

    @field_validator("endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"S3 endpoint {value!r} must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def allow_http(self) -> bool:
        return self.endpoint_url.startswith("http://")

    @property
    def endpoint_label(self) -> str:
        """The endpoint for messages (``AWS S3 (<region>)`` when none is set)."""
        return self.endpoint_url or f"AWS S3 ({self.region})"

    def boto_config(self) -> dict[str, Any]:
        """Keyword arguments of ``botocore.config.Config`` with these bounds: every boto3 client of the tools
        image gets them, MLflow's S3 artifact client included (botocore's own defaults are a 60 s connect and
        60 s read timeout per try, which made an unreachable endpoint hang MLflow for minutes)."""
        return {
            "region_name": self.region,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.request_timeout,
            "retries": {"total_max_attempts": self.max_retries + 1, "mode": "standard"},  # max_attempts: retries
        }

    def delta_options(self) -> dict[str, str]:
        """``storage_options`` for delta-rs (``DeltaTable``, ``write_deltalake``): endpoint, region and bounds."""
        options = {
            "AWS_REGION": self.region,
            "connect_timeout": f"{self.connect_timeout:g}s",
            "timeout": f"{self.request_timeout:g}s",
            "max_retries": str(self.max_retries),
            "retry_timeout": f"{self.retry_timeout:g}s",
        }
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
            options["AWS_ALLOW_HTTP"] = "true" if self.allow_http else "false"
        return options


def storage_options(uri: str | StorageUri, s3: S3Settings | None = None) -> dict[str, str] | None:
    """delta-rs ``storage_options`` for a table at ``uri``: None for a local path, else the S3 settings' ones."""
    if StorageUri.parse(uri).is_local:
        return None
    return (s3 or S3Settings()).delta_options()
