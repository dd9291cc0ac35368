"""Files and Delta tables under a :class:`~leadscore_core.storage.StorageUri`: a local directory or S3.

- Delta tables are read and written by delta-rs, with the ``storage_options`` of
  :meth:`~leadscore_core.storage.S3Settings.delta_options` (endpoint, region, timeouts, retries).
- The lake's small files (run reports, source state) and the copies a Spark session needs are handled by
  boto3 with the same bounds, so an endpoint that does not answer fails within
  ``connect_timeout + request_timeout`` per try, ``max_retries + 1`` tries.
- :func:`bound_boto_clients` puts the same bounds on MLflow's S3 artifact client (the registry calls it).

Any remote failure to connect is raised as :class:`~leadscore_core.storage.StorageUnreachable` naming the
endpoint (a transient failure: the CLI exits 75, the workflows retry); a missing bucket is a
:class:`~leadscore_core.storage.StorageUriError` (a configuration error, not retried).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leadscore_core.storage import S3Settings, StorageUnreachable, StorageUri, StorageUriError

_UNREACHABLE = re.compile(
    r"error sending request|connection refused|could not connect|connect(ion)? timed out|timed? ?out|"
    r"dns error|failed to lookup|connection reset|broken pipe|max retries|after \d+ retries",
    re.IGNORECASE,
)

_BOTO_UNREACHABLE = re.compile(r"(connect timeout on|read timeout on|could not connect to the) endpoint URL", re.I)
"""botocore's wording for an endpoint that did not answer (``EndpointConnectionError``, ``ConnectTimeoutError``,
``ReadTimeoutError``)."""


def is_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` (delta-rs, boto3) says the endpoint could not be reached, not that it refused."""
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - boto3 is a dependency of the tools image
        return bool(_UNREACHABLE.search(str(exc)))
    if isinstance(exc, BotoConnectionError | ReadTimeoutError | ConnectionError | TimeoutError):
        return True
    return bool(_UNREACHABLE.search(str(exc)))


def s3_unreachable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is boto3 failing to reach an S3 endpoint.

    MLflow's artifact client raises botocore's errors as they are, or (a download of several files) one
    ``MlflowException`` whose message quotes each file's error: botocore's own wording is looked for there.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        if module.startswith(("botocore", "boto3", "s3transfer")) and is_unreachable(current):
            return True
        if _BOTO_UNREACHABLE.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def bound_boto_clients(s3: S3Settings | None = None) -> None:
    """Give every boto3 client made from now on through the default session (MLflow's S3 artifact client is
    one: it calls ``boto3.client("s3", config=...)`` with its own signature settings, which botocore merges
    over this default) the S3 settings' connect/read timeouts and retries.

    MLflow caches its clients; the cache is cleared so a client made before this call cannot keep
    botocore's unbounded defaults.
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    session.set_default_client_config(Config(**(s3 or S3Settings()).boto_config()))
    boto3.setup_default_session(botocore_session=session)
    with contextlib.suppress(ImportError, AttributeError):  # private to MLflow: best effort
        from mlflow.store.artifact import s3_artifact_repo

        s3_artifact_repo._cached_get_s3_client.cache_clear()


class ObjectStore:
    """One root location; paths below it are ``/``-separated relative names (``_runs/x.json``, ``gold/t``)."""

    def __init__(self, root: StorageUri | str | Path, s3: S3Settings | None = None) -> None:
        self.root = StorageUri.parse(root)
        self._s3_settings = s3
        self._client: Any = None

    # -- locations ---------------------------------------------------------------------------
    @property
    def s3(self) -> S3Settings:
        if self._s3_settings is None:
            self._s3_settings = S3Settings()
        return self._s3_settings

    @property
    def is_local(self) -> bool:
        return self.root.is_local

    def uri(self, rel: str = "") -> StorageUri:
        return self.root / rel if rel else self.root

    def table_uri(self, table: str) -> str:
        """What delta-rs opens: an absolute local path or ``s3://bucket/key``."""
        return str(self.uri(table))

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs ``storage_options`` (None for a local root)."""
        return None if self.is_local else self.s3.delta_options()

    def describe(self) -> str:
        return str(self.root) if self.is_local else f"{self.root} (endpoint {self.s3.endpoint_label})"

    # -- errors ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn a failure to reach the endpoint during ``action`` into :class:`StorageUnreachable`."""
        try:
            yield
        except (StorageUnreachable, StorageUriError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "NoCredentialsError":
                raise StorageUriError(
                    f"{action}: no S3 credentials for {self.root}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                    "(or a role / AWS_PROFILE)"
                ) from exc
            if self.is_local or not is_unreachable(exc):
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise StorageUnreachable(
                f"{action}: S3 endpoint {self.s3.endpoint_label} is not reachable for {self.root} ({first}); "
                f"bounded by LEADSCORE_S3_CONNECT_TIMEOUT={self.s3.connect_timeout:g}s, "
                f"LEADSCORE_S3_REQUEST_TIMEOUT={self.s3.request_timeout:g}s, "
                f"LEADSCORE_S3_MAX_RETRIES={self.s3.max_retries}"
            ) from exc

    # -- S3 client ---------------------------------------------------------------------------
    def _boto(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            s = self.s3
            config = Config(**s.boto_config())
            self._client = boto3.client("s3", endpoint_url=s.endpoint_url or None, config=config)
        return self._client

    def _key(self, rel: str) -> str:
        return self.uri(rel).key

    # -- checks ------------------------------------------------------------------------------
    def check(self, create: bool = False) -> None:
        """Make sure the root can be used before any work starts: a local root is created (``create``); for
        S3 the bucket must answer (bounded) and exist.

        Raises:
            StorageUnreachable: the endpoint does not answer.
            StorageUriError: the bucket does not exist or access is denied.
        """
        if self.is_local:
            if create:
                self.root.local_path.mkdir(parents=True, exist_ok=True)
            return
        from botocore.exceptions import ClientError

        with self.errors(f"checking bucket {self.root.bucket}"):
            try:
                self._boto().head_bucket(Bucket=self.root.bucket)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                why = "does not exist" if code in ("404", "NoSuchBucket") else f"cannot be used ({code or exc})"
                raise StorageUriError(
                    f"{self.root}: bucket {self.root.bucket!r} {why} at {self.s3.endpoint_label}"
                ) from exc

    def exists(self, rel: str, directory: bool = False) -> bool:
        """True when the file ``rel`` exists (``directory``: when anything exists below ``rel/``)."""
        if self.is_local:
            path = self.uri(rel).local_path
            return path.is_dir() if directory else path.is_file()
        prefix = self._key(rel) + ("/" if directory else "")
        with self.errors(f"looking up {self.uri(rel)}"):
            found = self._boto().list_objects_v2(Bucket=self.root.bucket, Prefix=prefix, MaxKeys=1)
        keys = [o["Key"] for o in found.get("Contents", [])]
        return bool(keys) and (directory or keys[0] == prefix)

    def delta_exists(self, table: str) -> bool:
        """True when ``table`` has a Delta log."""
        return self.exists(f"{table}/_delta_log", directory=True)

    # -- small files ---------------------------------------------------------------------------
    def read_text(self, rel: str) -> str | None:
        """The file's text, or None when it does not exist."""
        if self.is_local:
            path = self.uri(rel).local_path
            return path.read_text() if path.is_file() else None
        from botocore.exceptions import ClientError

        with self.errors(f"reading {self.uri(rel)}"):
            try:
                body = self._boto().get_object(Bucket=self.root.bucket, Key=self._key(rel))["Body"].read()
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey"):
                    return None
                raise
        return bytes(body).decode()

    def write_text(self, rel: str, text: str) -> str:
        """Write (replace) the file; returns its location."""
        if self.is_local:
            path = self.uri(rel).local_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return str(path)
        with self.errors(f"writing {self.uri(rel)}"):
            self._boto().put_object(Bucket=self.root.bucket, Key=self._key(rel), Body=text.encode())
        return str(self.uri(rel))

    def fetch_files(self, uris: list[str], dst: Path) -> list[str]:
        """Local copies of ``uris`` (``s3://`` objects of this bucket, or local paths, returned as they are).

        Delta data files are immutable, so a copy already in ``dst`` is reused.
        """
        out: list[str] = []
        for uri in uris:
            loc = StorageUri.parse(uri)
            if loc.is_local:
                out.append(str(loc))
                continue
            target = dst / loc.key.replace("/", "__")
            if not target.is_file():
                dst.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                with self.errors(f"downloading {uri}"):
                    self._boto().download_file(loc.bucket, loc.key, str(partial))
                partial.rename(target)
            out.append(str(target))
        return out

    # -- Delta -------------------------------------------------------------------------------
    def delta(self, table: str, version: int | None = None) -> Any:
        """``deltalake.DeltaTable`` of ``table`` (at ``version``)."""
        from deltalake import DeltaTable

        with self.errors(f"opening Delta table {self.uri(table)}"):
            return DeltaTable(self.table_uri(table), version=version, storage_options=self.storage_options)

    def write_delta(self, table: str, data: Any, **kwargs: Any) -> int:
        """``write_deltalake`` into ``table``; returns the version written."""
        from deltalake import write_deltalake

        with self.errors(f"writing Delta table {self.uri(table)}"):
            write_deltalake(self.table_uri(table), data, storage_options=self.storage_options, **kwargs)
            return int(self.delta(table).version())

    def overwrite_with_files(self, table: str, files: list[tuple[Path, int]], schema: Any) -> int:
        """Replace every row of ``table`` with the Parquet ``files`` (``(local path, rows)``, of ``schema``) in one
        Delta commit, creating the table if need be; returns the version written.

        A local root's files must already be in the table's folder; an S3 root's are uploaded there first. If
        the commit fails, none of the files stays behind (the table is left as it was) and the error is raised.
        """
        from deltalake import Schema
        from deltalake.transaction import create_table_with_add_actions

        folder = self.uri(table)
        outside = [p for p, _ in files if self.is_local and p.parent.resolve() != folder.local_path.resolve()]
        if outside:
            raise ValueError(f"{outside[0]} is not in the folder of Delta table {folder}")
        placed: list[Path | str] = [p for p, _ in files] if self.is_local else []
        try:
            with self.errors(f"committing {len(files)} files to Delta table {folder}"):
                actions = [self._place(table, path, rows, placed) for path, rows in files]
                if self.delta_exists(table):
                    self.delta(table).create_write_transaction(actions, mode="overwrite", schema=schema)
                else:
                    create_table_with_add_actions(
                        self.table_uri(table), Schema.from_arrow(schema), actions, storage_options=self.storage_options
                    )
        except BaseException:
            self._remove_uncommitted(placed)
            raise
        return int(self.delta(table).version())

    def _place(self, table: str, path: Path, rows: int, placed: list[Path | str]) -> Any:
        """``path``'s Delta add action; on S3, uploaded to ``table``'s folder first (and noted in ``placed``)."""
        import json
        import time

        from deltalake.transaction import AddAction

        if not self.is_local:
            key = self._key(f"{table}/{path.name}")
            placed.append(key)
            self._boto().upload_file(str(path), self.root.bucket, key)
        size, stamp = path.stat().st_size, int(time.time() * 1000)
        return AddAction(path.name, size, {}, stamp, True, json.dumps({"numRecords": rows}))

    def _remove_uncommitted(self, placed: list[Path | str]) -> None:
        """Best effort: a file of a failed commit is not in any version, so removing it loses nothing."""
        for item in placed:
            with contextlib.suppress(Exception):
                if isinstance(item, Path):
                    item.unlink(missing_ok=True)
                else:
                    self._boto().delete_object(Bucket=self.root.bucket, Key=item)
