"""The InferenceService an SRE applies for one canary step (``leadscore canary render``).

KServe semantics (serving.kserve.io/v1beta1, Serverless): changing the predictor spec creates a new
revision; ``canaryTrafficPercent`` is the latest revision's share, the previously rolled-out revision
keeps the rest. 100 rolls the new revision out; 0 sends all traffic back to the previous one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Final

import yaml

from training.errors import RegistryError

STEPS: Final = {"10": 10, "50": 50, "100": 100, "rollback": 0}
VERSION_LABEL: Final = "leadscore.io/model-version"


def load_base(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RegistryError(
            f"base InferenceService {path} not found: run from a repository checkout or set "
            "LEADSCORE_DELIVERY_BASE_MANIFEST"
        )
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    found = [d for d in docs if d.get("kind") == "InferenceService"]
    if len(found) != 1:
        raise RegistryError(f"{path} holds {len(found)} InferenceServices; expected exactly one")
    return found[0]


def traffic_for(step: str) -> int:
    if step not in STEPS:
        raise RegistryError(f"--step {step!r}: expected one of {', '.join(STEPS)}")
    return STEPS[step]


def render(base: dict[str, Any], storage_uri: str, version: int, step: str) -> dict[str, Any]:
    """``base`` pinned to ``storage_uri`` (the version's immutable path) at the step's traffic share."""
    if int(version) < 1:
        raise RegistryError(f"--model-version {version}: model versions start at 1")
    doc = copy.deepcopy(base)
    predictor = doc["spec"]["predictor"]
    predictor["model"]["storageUri"] = storage_uri
    predictor["canaryTrafficPercent"] = traffic_for(step)
    labels = doc.setdefault("metadata", {}).setdefault("labels", {})
    labels[VERSION_LABEL] = str(int(version))
    return doc


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)
