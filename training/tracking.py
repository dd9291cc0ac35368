"""MLflow wiring: which store (embedded SQLite under LEADSCORE_HOME or a server), provenance, run logging."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from leadscore_core.settings import HomeSettings, SourceSettings
from training.errors import RegistryError

if TYPE_CHECKING:
    from leadscore.objectstore import ObjectStore


def tracking_uri(home: HomeSettings | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite store under ``LEADSCORE_HOME/mlflow``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return (home or HomeSettings()).tracking_uri


def is_embedded(uri: str) -> bool:
    return uri.startswith("sqlite:")


def configure(home: HomeSettings | None = None, http_retries: int = 2, http_timeout: int = 30) -> str:
    """Point mlflow at the store and check it answers; returns the tracking URI.

    Raises:
        RegistryError: the tracking server is unreachable or the local store cannot be created.
    """
    import mlflow

    home = home or HomeSettings()
    uri = tracking_uri(home)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(http_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(http_timeout))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _s3_defaults()
    if is_embedded(uri):
        try:
            home.mlflow_dir.mkdir(parents=True, exist_ok=True)
            (home.mlflow_dir / "artifacts").mkdir(exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create the local MLflow store in {home.mlflow_dir}: {exc}") from exc
    elif uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _s3_defaults() -> None:
    """MLflow's own S3 client (boto3) uses the project's S3 endpoint and the bounds of
    :class:`~leadscore_core.storage.S3Settings` (connect/read timeouts, attempts)."""
    from leadscore.objectstore import bound_boto_clients
    from leadscore_core.storage import S3Settings

    s3 = S3Settings()
    if s3.endpoint_url:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", s3.endpoint_url)
    bound_boto_clients(s3)


def check_artifact_store(experiment_id: str) -> ObjectStore | None:
    """Before any training: an experiment whose artifacts live on S3 needs that bucket to answer (bounded).
    Returns the S3 artifact root (its :meth:`~leadscore.objectstore.ObjectStore.errors` names the endpoint when
    it stops answering later), or None for a local one.

    Raises:
        StorageUnreachable: the endpoint does not answer.
        RegistryError: the bucket does not exist or cannot be used.
    """
    from mlflow.tracking import MlflowClient

    from leadscore.objectstore import ObjectStore
    from leadscore_core.storage import StorageUriError

    location = str(MlflowClient().get_experiment(experiment_id).artifact_location or "")
    if not location.startswith("s3://"):
        return None
    store = ObjectStore(location)
    try:
        store.check()
    except StorageUriError as exc:
        raise RegistryError(f"MLflow artifact store: {exc}") from exc
    return store


def check_server(uri: str, timeout: float = 5.0) -> None:
    try:
        response = httpx.get(uri.rstrip("/") + "/health", timeout=timeout)
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"MLflow tracking server {uri} is not reachable ({type(exc).__name__}): start it "
            "(`mlflow server --backend-store-uri postgresql+psycopg://...`) or unset MLFLOW_TRACKING_URI "
            "to use the embedded SQLite store under LEADSCORE_HOME"
        ) from exc
    if response.status_code != 200:
        raise RegistryError(f"MLflow tracking server {uri} is unhealthy: /health answered {response.status_code}")


def ensure_experiment(name: str, home: HomeSettings | None = None) -> str:
    """Experiment id; an embedded store keeps its artifacts under ``LEADSCORE_HOME/mlflow/artifacts``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (home or HomeSettings()).artifact_root if is_embedded(tracking_uri(home)) else None
    return client.create_experiment(name, artifact_location=location)


def _checkout() -> Path | None:
    return SourceSettings().checkout(Path(__file__))


def git_sha() -> str:
    """The code's commit: ``LEADSCORE_GIT_SHA`` (an image build sets it), else git in the source checkout
    (``-dirty`` when training or core have local changes), else ``unknown``."""
    settings = SourceSettings()
    if settings.git_sha:
        return settings.git_sha
    repo = settings.checkout(Path(__file__))
    if repo is None:
        return "unknown"
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "training", "core"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def lock_hash() -> str:
    """sha256 of the checkout's root ``uv.lock`` (the exact training environment), else ``unknown``."""
    repo = _checkout()
    lock = repo / "uv.lock" if repo is not None else None
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock is not None and lock.exists() else "unknown"
