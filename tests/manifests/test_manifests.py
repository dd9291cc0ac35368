"""Every manifest source of the repo renders and passes ../shared/tools/validate_k8s.py.

Render units are discovered by scripts/manifests.py (kustomize dirs under manifests/, plain
YAML, charts/*, workflows/*.yaml). The validator wiring itself is proven on known-good and
known-bad inputs in tests/testdata/manifests/, so a broken wiring cannot pass silently.
Skipped, with the reason, when ../shared (validator + CRDs) is absent.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "tests" / "testdata" / "manifests"


def _load_manifests_module():
    spec = importlib.util.spec_from_file_location("leadscore_build_manifests", ROOT / "scripts" / "manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


manifests = _load_manifests_module()
PROJECT_UNITS = manifests.discover(ROOT)


@pytest.fixture(scope="module")
def tools():
    toolchain = manifests.Toolchain.from_env(ROOT)
    if not toolchain.validator.is_file():
        pytest.skip(f"manifest validation skipped: {toolchain.validator} not found (../shared is absent)")
    problems = toolchain.problems()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
    if not toolchain.kubectl or not toolchain.helm:
        pytest.fail("kubectl/helm not found: `make envs` installs them into .tools/bin", pytrace=False)
    return toolchain


def _unit(kind: str, path: Path, **kw) -> object:
    return manifests.Unit(name=str(path.relative_to(ROOT)), kind=kind, path=path, **kw)


# --------------------------------------------------------------------------- the repo's own manifests


def _project_unit_params():
    if not PROJECT_UNITS:
        reason = "no manifests yet: manifests/, charts/ and workflows/ hold nothing to render"
        return [pytest.param(None, id="none-yet", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(u, id=u.name) for u in PROJECT_UNITS]


@pytest.mark.needs_shared
@pytest.mark.parametrize("unit", _project_unit_params())
def test_project_manifests_render_and_validate(unit, tools):
    outcome = manifests.validate(unit, tools)
    assert outcome.ok, f"{unit.name} is invalid:\n{outcome.output}"


def test_every_kustomization_under_manifests_is_a_render_unit():
    """No kustomization dir is silently left out (Components are the only exception)."""
    kustomization_dirs = {p.parent for name in manifests.KUSTOMIZATION_NAMES for p in (ROOT / "manifests").rglob(name)}
    rendered = {u.path for u in PROJECT_UNITS if u.kind == "kustomize"}
    for d in kustomization_dirs - rendered:
        text = next(d / n for n in manifests.KUSTOMIZATION_NAMES if (d / n).is_file()).read_text()
        assert manifests.COMPONENT_RE.search(text), f"{d} has a kustomization but is not validated"


# --------------------------------------------------------------------------- validator wiring


@pytest.mark.needs_shared
def test_known_good_plain_yaml_passes(tools):
    files = tuple(sorted((TESTDATA / "good").glob("*.yaml")))
    assert len(files) >= 2
    outcome = manifests.validate(_unit("files", TESTDATA / "good", files=files), tools)
    assert outcome.ok, outcome.output
    assert "0 invalid" in outcome.output


BAD_FILES = sorted((TESTDATA / "bad").glob("*.yaml"))


@pytest.fixture(scope="module")
def bad_outcome(tools):
    """One validator run over every known-bad file (each file's problems are prefixed FILE:LINE)."""
    return manifests.validate(_unit("files", TESTDATA / "bad", files=tuple(BAD_FILES)), tools)


@pytest.mark.needs_shared
def test_known_bad_yaml_fails(bad_outcome):
    assert not bad_outcome.ok
    assert f"0 valid, {len(BAD_FILES)} invalid" in bad_outcome.output


@pytest.mark.needs_shared
@pytest.mark.parametrize("bad", BAD_FILES, ids=[p.name for p in BAD_FILES])
def test_known_bad_yaml_is_reported_with_its_problem(bad: Path, bad_outcome):
    expect = re.search(r"^# expect: (.+)$", bad.read_text(), re.MULTILINE)
    assert expect, f"{bad.name} needs a '# expect: <text>' header"
    lines = [ln for ln in bad_outcome.output.splitlines() if ln.startswith(f"{bad}:")]
    assert lines, f"validator reported nothing for {bad.name}:\n{bad_outcome.output}"
    assert any(expect.group(1).strip() in ln for ln in lines), "\n".join(lines)


@pytest.mark.needs_shared
def test_kustomize_render_is_validated(tools):
    outcome = manifests.validate(_unit("kustomize", TESTDATA / "kustomize-good"), tools)
    assert outcome.ok, outcome.output
    rendered = manifests.render(_unit("kustomize", TESTDATA / "kustomize-good"), tools)
    assert "name: wiring-settings" in rendered  # kustomize really ran (namePrefix applied)
    assert "namespace: leadscore" in rendered


@pytest.mark.needs_shared
def test_invalid_kustomize_render_fails(tools):
    outcome = manifests.validate(_unit("kustomize", TESTDATA / "kustomize-bad"), tools)
    assert not outcome.ok
    assert "protocl" in outcome.output


@pytest.mark.needs_shared
def test_kustomize_render_error_is_a_failure_not_a_crash(tmp_path: Path, tools):
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - does-not-exist.yaml\n")
    outcome = manifests.validate(manifests.Unit(name="broken", kind="kustomize", path=tmp_path), tools)
    assert not outcome.ok
    assert "kustomize" in outcome.output


@pytest.mark.needs_shared
def test_helm_chart_renders_with_defaults_and_ci_values(tools):
    chart = TESTDATA / "chart-good"
    units = manifests.discover_charts(TESTDATA, ROOT)
    assert [u.values.name if u.values else None for u in units if u.path == chart] == [
        None,
        "01-other-greeting-values.yaml",
    ]
    for unit in units:
        outcome = manifests.validate(unit, tools)
        assert outcome.ok, outcome.output
    with_values = manifests.render(units[1], tools)
    assert 'greeting: "salaam"' in with_values


# --------------------------------------------------------------------------- discovery rules


def _write(path: Path, text: str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_discovery_of_an_empty_repo_finds_nothing(tmp_path: Path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "charts").mkdir()
    (tmp_path / "workflows").mkdir()
    assert manifests.discover(tmp_path) == []


def test_discovery_rules(tmp_path: Path):
    m = tmp_path / "manifests"
    _write(m / "serving" / "kustomization.yaml", "resources: [isvc.yaml]\n")
    _write(m / "serving" / "isvc.yaml")
    _write(m / "serving" / "patches" / "canary.yaml")  # part of the kustomization: not plain
    _write(m / "eventing" / "broker.yaml")  # no kustomization: plain YAML
    _write(m / "eventing" / "trigger.yml")
    _write(m / "components" / "mesh" / "kustomization.yaml", "kind: Component\n")  # overlay-only
    _write(m / "eventing" / "notes.txt", "not yaml")
    _write(tmp_path / "charts" / "leadscore" / "Chart.yaml", "name: leadscore\n")
    _write(tmp_path / "charts" / "leadscore" / "ci" / "01-canary-values.yaml", "{}\n")
    _write(tmp_path / "workflows" / "retrain.yaml")
    _write(tmp_path / "workflows" / "retrain.py", "w = None\n")

    units = {
        (u.kind, str(u.path.relative_to(tmp_path)), u.values.name if u.values else None): u
        for u in manifests.discover(tmp_path)
    }
    assert set(units) == {
        ("kustomize", "manifests/serving", None),
        ("files", "manifests/eventing", None),
        ("helm", "charts/leadscore", None),
        ("helm", "charts/leadscore", "01-canary-values.yaml"),
        ("files", "workflows", None),
    }
    assert [p.name for p in units[("files", "manifests/eventing", None)].files] == ["broker.yaml", "trigger.yml"]
    assert [p.name for p in units[("files", "workflows", None)].files] == ["retrain.yaml"]


def test_toolchain_reports_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHARED_DIR", str(tmp_path / "no-shared"))
    monkeypatch.setenv("VALIDATOR_PYTHON", str(tmp_path / "no-python"))
    problems = manifests.Toolchain.from_env(ROOT).problems()
    assert any("validator not found" in p for p in problems)
    assert any("make envs" in p for p in problems)


def test_cli_lists_units_and_passes_on_an_empty_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert manifests.main(["--root", str(tmp_path)]) == 0
    assert "nothing to validate yet" in capsys.readouterr().out
    _write(tmp_path / "manifests" / "base" / "cm.yaml")
    assert manifests.main(["--root", str(tmp_path), "--list"]) == 0
    assert "manifests/base (plain YAML)" in capsys.readouterr().out


@pytest.mark.needs_shared
def test_cli_fails_on_an_invalid_tree(
    tmp_path: Path, tools, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("VALIDATOR_PYTHON", str(tools.python))
    monkeypatch.setenv("SHARED_DIR", str(tools.validator.parent.parent))
    monkeypatch.setenv("KUBECTL", tools.kubectl)
    monkeypatch.setenv("HELM", tools.helm)
    bad = (TESTDATA / "bad" / "unknown-field.yaml").read_text()
    _write(tmp_path / "manifests" / "app" / "deploy.yaml", bad)
    assert manifests.main(["--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL manifests/app (plain YAML)" in out
    assert "0 valid, 1 invalid" in out
