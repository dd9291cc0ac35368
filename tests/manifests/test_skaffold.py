"""skaffold.yaml builds the four images and deploys the chart with dev and prod profiles.

No skaffold binary or Docker engine runs here: the structure is checked, and the chart is rendered
the way skaffold would (each profile's values files, each built image through image.overrides)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
TEMPLATE = re.compile(r"^\{\{\.IMAGE_FULLY_QUALIFIED_([A-Za-z0-9_]+)\}\}$")


def sanitized(image: str) -> str:
    """Skaffold's template-variable form of an image name (non-alphanumerics -> _)."""
    return re.sub(r"[^A-Za-z0-9]", "_", image)


def release(profile: str | None) -> dict[str, Any]:
    """The helm release after applying ``profile``'s JSON patches (add/replace only)."""
    rel = dict(CONFIG["manifests"]["helm"]["releases"][0])
    if profile is None:
        return rel
    prof = next(p for p in CONFIG["profiles"] if p["name"] == profile)
    for patch in prof["patches"]:
        assert patch["op"] in {"add", "replace"}
        path = patch["path"]
        if path.startswith("/manifests/helm/releases/0/"):
            rel[path.rsplit("/", 1)[1]] = patch["value"]
        else:
            assert path == "/build/local/push"
    return rel


def test_four_images_each_with_its_dockerfile() -> None:
    artifacts = CONFIG["build"]["artifacts"]
    assert len(artifacts) == 4
    for a in artifacts:
        assert (ROOT / a["docker"]["dockerfile"]).is_file()


def test_every_built_image_reaches_the_chart() -> None:
    rel = release(None)
    assert (ROOT / rel["chartPath"] / "Chart.yaml").is_file()
    assert CONFIG["deploy"] == {"helm": {}}
    built = {sanitized(a["image"]): a["image"].rsplit("-", 1)[1] for a in CONFIG["build"]["artifacts"]}
    wired = {}
    for key, value in rel["setValueTemplates"].items():
        match = TEMPLATE.match(value)
        assert match, f"{key}: {value}"
        wired[match.group(1)] = key
    assert set(wired) == set(built)
    for var, key in wired.items():
        assert key == f"image.overrides.{built[var]}"


def test_dev_and_prod_profiles() -> None:
    names = {p["name"] for p in CONFIG["profiles"]}
    assert {"dev", "prod"} <= names
    assert release("dev")["namespace"] == "leadscore-dev"
    prod = next(p for p in CONFIG["profiles"] if p["name"] == "prod")
    assert {"op": "replace", "path": "/build/local/push", "value": True} in prod["patches"]
    for profile in ("dev", "prod"):
        for values in release(profile)["valuesFiles"]:
            assert (ROOT / values).is_file(), values


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_profile_renders_with_the_built_images(profile: str) -> None:
    helm = ROOT / ".tools" / "bin" / "helm"
    helm_bin = str(helm) if helm.exists() else shutil.which("helm")
    if not helm_bin:
        pytest.fail("helm not found: `make envs` installs it", pytrace=False)
    rel = release(profile)
    cmd = [helm_bin, "template", rel["name"], str(ROOT / rel["chartPath"]), "--namespace", rel["namespace"]]
    for values in rel["valuesFiles"]:
        cmd += ["--values", str(ROOT / values)]
    for key, value in rel["setValueTemplates"].items():
        var = TEMPLATE.match(value).group(1)  # type: ignore[union-attr]
        cmd += ["--set", f"{key}=registry.example/{var.lower()}@sha256:{'0' * 64}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    images = set(re.findall(r"image: (\S+)", proc.stdout))
    ours = {i for i in images if "leadscore" in i}
    assert ours and all(i.startswith("registry.example/") and "@sha256:" in i for i in ours), ours
