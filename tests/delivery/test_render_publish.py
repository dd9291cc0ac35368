"""Registry -> serving: immutable per-version publishing, the rendered InferenceService of every step (validated
against the KServe CRD), the `leadscore canary render` CLI, and the RBAC of the analysis."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.delivery import kube, render
from leadscore.delivery.publish import publish, version_uri
from leadscore.delivery.settings import DeliverySettings
from leadscore.delivery.storage import DIGEST_FILE, LocalStore, tree_digest
from leadscore.registry.registry import Registry
from training.errors import RegistryError

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "manifests" / "serving" / "serving.yaml"


def test_publish_writes_each_version_once_and_immutably(add_version: Callable[..., int], tmp_path: Path) -> None:
    v1 = add_version("production", "bootstrap", artifact=0)
    v2 = add_version("staging", artifact=1)
    reg = Registry()
    settings = DeliverySettings(model_store=str(tmp_path / "store"))
    uri1 = publish(reg, v1, settings)
    assert uri1 == f"{tmp_path}/store/lead-scoring/v{v1}"
    published = Path(uri1)
    assert (published / "artifacts" / "leadscore" / "manifest.json").is_file()
    assert (published / "MLmodel").is_file()
    assert (published / DIGEST_FILE).read_text().strip() == tree_digest(published)
    assert not os.access(published / "MLmodel", os.W_OK) or os.geteuid() == 0
    assert oct((published / "MLmodel").stat().st_mode & 0o777) == "0o444"
    assert publish(reg, v1, settings) == uri1  # same content again: a no-op
    uri2 = publish(reg, v2, settings)
    assert uri2.endswith(f"/v{v2}") and tree_digest(Path(uri2)) != tree_digest(published)
    # something else at v1's path: refused, never overwritten
    marker = published / DIGEST_FILE
    os.chmod(marker, 0o644)
    marker.write_text("0" * 64 + "\n")
    with pytest.raises(RegistryError, match="published versions are immutable"):
        publish(reg, v1, settings)
    assert [p.name for p in (tmp_path / "store" / "lead-scoring").iterdir() if p.name.startswith(".")] == []


def test_half_written_version_is_not_taken_for_a_published_one(tmp_path: Path) -> None:
    (tmp_path / "v3").mkdir()
    store = LocalStore()
    assert store.digest_at(str(tmp_path / "v3")) is None
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("x")
    with pytest.raises(RegistryError, match="incomplete"):
        store.put_tree(src, str(tmp_path / "v3"), tree_digest(src))
    store.put_tree(src, f"file://{tmp_path}/v4", tree_digest(src))
    assert store.digest_at(f"file://{tmp_path}/v4") == tree_digest(src)


@pytest.mark.parametrize("root", ["s3://leadscore-models", "s3://leadscore-models/prod/", "/var/models"])
def test_version_uri_is_per_version(root: str) -> None:
    assert version_uri(root, "lead-scoring", 7) == root.rstrip("/") + "/lead-scoring/v7"


def test_the_base_manifest_has_no_mutable_champion_path() -> None:
    uri = render.load_base(BASE)["spec"]["predictor"]["model"]["storageUri"]
    assert "champion" not in uri and uri.rsplit("/", 1)[-1].startswith("v")


@pytest.mark.parametrize(("step", "percent"), [("10", 10), ("50", 50), ("100", 100), ("rollback", 0)])
@pytest.mark.parametrize("version", [3, 12])
def test_every_step_renders_a_valid_inferenceservice(step: str, percent: int, version: int, validate) -> None:  # noqa: ANN001
    uri = f"s3://leadscore-models/lead-scoring/v{version}"
    doc = render.render(render.load_base(BASE), uri, version, step)
    predictor = doc["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == uri and predictor["canaryTrafficPercent"] == percent
    assert doc["metadata"]["labels"]["leadscore.io/model-version"] == str(version)
    base = render.load_base(BASE)
    base["spec"]["predictor"].pop("canaryTrafficPercent")
    del base["spec"]["predictor"]["model"]["storageUri"]
    predictor.pop("canaryTrafficPercent")
    del predictor["model"]["storageUri"]
    doc["metadata"]["labels"].pop("leadscore.io/model-version")
    assert doc == base  # nothing else changed
    ok, output = validate([render.render(render.load_base(BASE), uri, version, step)])
    assert ok, output


@pytest.mark.parametrize(("step", "version", "message"), [("25", 3, "--step '25'"), ("10", 0, "start at 1")])
def test_bad_steps_are_named(step: str, version: int, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        render.render(render.load_base(BASE), "s3://x/v1", version, step)


def test_canary_render_cli_prints_what_kubectl_applies(store: Path, validate) -> None:  # noqa: ANN001
    app = build_app()
    res = CliRunner().invoke(app, ["canary", "render", "--step", "10", "--model-version", "2"])
    assert res.exit_code == 0, res.output
    doc = yaml.safe_load(res.stdout)
    assert doc["spec"]["predictor"]["model"]["storageUri"] == Registry().resolve("2").tags["storage_uri"]
    assert doc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    ok, output = validate([doc])
    assert ok, output
    res = CliRunner().invoke(app, ["canary", "render", "--step", "rollback", "--model-version", "2"])
    assert res.exit_code == 0 and yaml.safe_load(res.stdout)["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_canary_render_refuses_an_unpublished_version(add_version: Callable[..., int]) -> None:
    add_version("production", "bootstrap")
    staged = add_version("staging")
    res = CliRunner().invoke(build_app(), ["canary", "render", "--step", "10", "--model-version", str(staged)])
    assert res.exit_code == 3 and "was never published" in res.output
    res = CliRunner().invoke(build_app(), ["canary", "render", "--step", "7", "--model-version", str(staged)])
    assert res.exit_code == 3 and "--step '7'" in res.output


def test_rbac_grants_exactly_the_verbs_the_analysis_uses(patcher, kube_api, validate) -> None:  # noqa: ANN001
    docs = list(yaml.safe_load_all((ROOT / "manifests" / "delivery" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["rules"] == [
        {
            "apiGroups": [kube.GROUP],
            "resources": [kube.PLURAL],
            "resourceNames": ["lead-scoring"],
            "verbs": ["get", "patch"],
        }
    ]
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    # every call the patcher can make, through the real client: exactly GET and PATCH on that one object
    patcher.get()
    patcher.patch(kube.traffic_body(50))
    patcher.patch(kube.start_body("s3://m/lead-scoring/v4", 4, 10))
    verbs = {{"GET": "get", "PATCH": "patch"}[r["method"]] for r in kube_api.requests}
    assert verbs == set(role["rules"][0]["verbs"])
    assert {r["path"].rsplit("/", 1)[-1] for r in kube_api.requests} == set(role["rules"][0]["resourceNames"])
    ok, output = validate(docs)
    assert ok, output
