"""A small storage abstraction for the per-version model store: local paths (and ``file://``) or ``s3://``.

Publishing is write-once: a version directory that exists is never overwritten; publishing the same
content again is a no-op, different content is refused (the store is immutable per version).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from training.errors import RegistryError

DIGEST_FILE = ".leadscore-digest"
"""Written last into a published version: the sha256 over its files (relative path + content)."""


class Store(Protocol):
    def digest_at(self, uri: str) -> str | None:
        """The digest of the version published at ``uri``, or None if nothing is there."""

    def put_tree(self, src: Path, uri: str, digest: str) -> None:
        """Copy ``src`` to ``uri`` (which does not exist yet) and mark it complete with ``digest``."""


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != DIGEST_FILE):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class LocalStore:
    """A directory tree; a version appears atomically (written beside it, then renamed) and read-only."""

    def digest_at(self, uri: str) -> str | None:
        marker = local_path(uri) / DIGEST_FILE
        return marker.read_text().strip() if marker.is_file() else None

    def put_tree(self, src: Path, uri: str, digest: str) -> None:
        dst = local_path(uri)
        if dst.exists():
            raise RegistryError(f"{uri} exists but is incomplete (no {DIGEST_FILE}); remove it by hand after checking")
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            shutil.copytree(src, tmp)
            (tmp / DIGEST_FILE).write_text(digest + "\n")
            for path in tmp.rglob("*"):
                if path.is_file():
                    os.chmod(path, 0o444)
            tmp.rename(dst)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class S3Store:
    """``s3://bucket/prefix``; the digest object is uploaded last, so a reader never sees half a version.

    Needs boto3 (credentials and endpoint from the usual AWS_* variables, e.g. AWS_ENDPOINT_URL for MinIO).
    """

    def __init__(self) -> None:
        try:
            import boto3  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RegistryError("s3:// model stores need boto3 in this environment") from exc
        self.s3 = boto3.client("s3")

    def digest_at(self, uri: str) -> str | None:
        bucket, key = _bucket_key(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{key}/{DIGEST_FILE}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return str(body.decode().strip())

    def put_tree(self, src: Path, uri: str, digest: str) -> None:
        bucket, key = _bucket_key(uri)
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            self.s3.upload_file(str(path), bucket, f"{key}/{path.relative_to(src).as_posix()}")
        self.s3.put_object(Bucket=bucket, Key=f"{key}/{DIGEST_FILE}", Body=(digest + "\n").encode())


def store_for(uri: str) -> Store:
    scheme = urlsplit(uri).scheme
    if scheme in ("", "file"):
        return LocalStore()
    if scheme == "s3":
        return S3Store()
    raise RegistryError(f"model store {uri!r}: unsupported scheme {scheme!r} (use a local path, file:// or s3://)")


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://")).expanduser()


def _bucket_key(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")
