"""Registry -> serving: publish a model version to ``<model store>/<model name>/v<N>`` (immutable)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from leadscore.delivery.settings import DeliverySettings
from leadscore.delivery.storage import join, store_for, tree_digest
from leadscore.registry.registry import Registry
from training.errors import RegistryError


def store_root(settings: DeliverySettings, registry: Registry) -> str:
    return settings.model_store or str((registry.home.home / "model-store").resolve())


def version_uri(root: str, model_name: str, version: int) -> str:
    """The one storage URI of a version; nothing else (no 'champion' path) is ever served."""
    return join(root, model_name, f"v{int(version)}")


def publish(registry: Registry, version: int, settings: DeliverySettings | None = None) -> str:
    """Download the version's MLflow model directory and write it once to its per-version URI.

    Idempotent for identical content; a different content at that URI is refused.
    """
    settings = settings or DeliverySettings()
    uri = version_uri(store_root(settings, registry), registry.name, version)
    store = store_for(uri)
    with tempfile.TemporaryDirectory(prefix="leadscore-publish-") as tmp:
        artifact = registry.fetch(str(version), Path(tmp) / "model")
        model_dir = artifact.parents[1]  # <model>/artifacts/leadscore -> <model>
        digest = tree_digest(model_dir)
        existing = store.digest_at(uri)
        if existing is None:
            store.put_tree(model_dir, uri, digest)
        elif existing != digest:
            raise RegistryError(
                f"{uri} already holds different content for v{version} (digest {existing[:12]} != {digest[:12]}); "
                "published versions are immutable"
            )
        shutil.rmtree(Path(tmp) / "model", ignore_errors=True)
    return uri


def publisher(registry: Registry, settings: DeliverySettings | None = None) -> Callable[[int], str]:
    """``publish`` bound to a registry, for :meth:`Registry.promote`."""
    return lambda version: publish(registry, version, settings)
