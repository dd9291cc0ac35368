#!/usr/bin/env python3
"""Render every Kubernetes manifest source of the repo and run it through the shared validator.

Render units (discovered, so new directories are picked up without editing anything):

* ``manifests/**/``: each directory holding a kustomization file is rendered with
  ``kubectl kustomize`` (kustomize ``Component`` directories are skipped: they only render
  inside an overlay). YAML/JSON files outside every kustomization directory are validated
  as plain files, one unit per directory.
* ``charts/*/Chart.yaml``: ``helm template`` with the chart defaults, and once per
  ``ci/*-values.yaml`` scenario.
* ``workflows/**/*.yaml``: plain files (the golden Argo Workflow YAML).

Rendered text goes to ``validate_k8s.py -`` on stdin; plain files are passed by path so
problems are reported as FILE:LINE. Stdlib only: runs with any Python 3.11.

Usage:
  python3 scripts/manifests.py [--root DIR] [--list]

Environment: SHARED_DIR (default ROOT/../shared), VALIDATOR_PYTHON (default
ROOT/.venvs/validate/bin/python), KUBECTL / HELM (default ROOT/.tools/bin/<name>, then PATH).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml", ".json")
COMPONENT_RE = re.compile(r"^kind:\s*['\"]?Component['\"]?\s*$", re.MULTILINE)
RENDER_TIMEOUT = 120


@dataclass(frozen=True)
class Unit:
    """One thing to validate: a kustomization, a chart (+ values file) or a set of plain files."""

    name: str
    kind: str  # "kustomize" | "helm" | "files"
    path: Path
    values: Path | None = None
    files: tuple[Path, ...] = field(default=())


@dataclass(frozen=True)
class Toolchain:
    """Where the validator and the renderers live."""

    python: Path
    validator: Path
    crds: Path
    kubectl: str | None
    helm: str | None

    @classmethod
    def from_env(cls, root: Path = ROOT) -> Toolchain:
        shared = Path(os.environ.get("SHARED_DIR", root.parent / "shared")).resolve()
        python = Path(os.environ.get("VALIDATOR_PYTHON", root / ".venvs" / "validate" / "bin" / "python"))
        return cls(
            python=python,
            validator=shared / "tools" / "validate_k8s.py",
            crds=shared / "crds",
            kubectl=_find_tool("KUBECTL", "kubectl", root),
            helm=_find_tool("HELM", "helm", root),
        )

    def problems(self) -> list[str]:
        """What is missing to validate anything (empty list = ready)."""
        out = []
        if not self.validator.is_file():
            out.append(f"validator not found at {self.validator} (is ../shared present?)")
        if not os.access(self.python, os.X_OK):
            out.append(f"validator venv python not found at {self.python} (run `make envs`)")
        return out


@dataclass(frozen=True)
class Outcome:
    unit: Unit
    ok: bool
    output: str


def _find_tool(env: str, name: str, root: Path) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    local = root / ".tools" / "bin" / name
    if os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _is_kustomization_dir(d: Path) -> Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (d / name).is_file():
            return d / name
    return None


def _yaml_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)


def discover_manifest_dir(base: Path, root: Path) -> list[Unit]:
    """Units under a manifests-style directory (kustomizations + leftover plain YAML)."""
    units: list[Unit] = []
    if not base.is_dir():
        return units
    kustomize_dirs: list[Path] = []
    for d in sorted([base, *(p for p in base.rglob("*") if p.is_dir())]):
        if any(part.startswith(".") for part in d.relative_to(base).parts):
            continue
        kfile = _is_kustomization_dir(d)
        if kfile is not None:
            kustomize_dirs.append(d)
            if COMPONENT_RE.search(kfile.read_text(encoding="utf-8", errors="replace")):
                continue  # a kustomize Component renders only as part of an overlay
            units.append(Unit(name=f"{_rel(d, root)} (kustomize)", kind="kustomize", path=d))
    for d in sorted([base, *(p for p in base.rglob("*") if p.is_dir())]):
        if any(part.startswith(".") for part in d.relative_to(base).parts):
            continue
        if any(d == k or k in d.parents for k in kustomize_dirs):
            continue  # covered by (or a patch/resource of) a kustomization
        files = _yaml_files(d)
        if files:
            units.append(Unit(name=f"{_rel(d, root)} (plain YAML)", kind="files", path=d, files=tuple(files)))
    return units


def discover_charts(charts: Path, root: Path) -> list[Unit]:
    """One unit per chart with default values, plus one per ``ci/*-values.yaml`` scenario."""
    units: list[Unit] = []
    for chart_file in sorted(charts.glob("*/Chart.yaml")):
        chart = chart_file.parent
        units.append(Unit(name=f"{_rel(chart, root)} (helm, default values)", kind="helm", path=chart))
        for values in sorted(chart.glob("ci/*-values.yaml")):
            units.append(
                Unit(name=f"{_rel(chart, root)} (helm, {values.name})", kind="helm", path=chart, values=values)
            )
    return units


def discover_workflows(workflows: Path, root: Path) -> list[Unit]:
    """Golden workflow YAML files, one unit per directory."""
    units: list[Unit] = []
    if not workflows.is_dir():
        return units
    by_dir: dict[Path, list[Path]] = {}
    for p in sorted(workflows.rglob("*")):
        if (
            p.is_file()
            and p.suffix in (".yaml", ".yml")
            and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(workflows).parts)
        ):
            by_dir.setdefault(p.parent, []).append(p)
    for d, files in sorted(by_dir.items()):
        units.append(Unit(name=f"{_rel(d, root)} (workflow YAML)", kind="files", path=d, files=tuple(files)))
    return units


def discover(root: Path = ROOT) -> list[Unit]:
    """Every render unit of the repository, in a stable order."""
    return [
        *discover_manifest_dir(root / "manifests", root),
        *discover_charts(root / "charts", root),
        *discover_workflows(root / "workflows", root),
    ]


def render(unit: Unit, tools: Toolchain) -> str:
    """Render a kustomize/helm unit to multi-document YAML (raises RuntimeError on failure)."""
    if unit.kind == "kustomize":
        if not tools.kubectl:
            raise RuntimeError("kubectl not found (run `make envs` to install .tools/bin/kubectl)")
        cmd = [tools.kubectl, "kustomize", str(unit.path)]
    elif unit.kind == "helm":
        if not tools.helm:
            raise RuntimeError("helm not found (run `make envs` to install .tools/bin/helm)")
        cmd = [tools.helm, "template", unit.path.name, str(unit.path)]
        if unit.values is not None:
            cmd += ["--values", str(unit.values)]
    else:
        raise ValueError(f"{unit.kind} units are not rendered")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


def validate(unit: Unit, tools: Toolchain) -> Outcome:
    """Render (when needed) and validate one unit; never raises for a bad manifest."""
    base = [str(tools.python), str(tools.validator), "--crds", str(tools.crds)]
    try:
        if unit.kind == "files":
            proc = subprocess.run(
                [*base, *map(str, unit.files)], capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False
            )
        else:
            text = render(unit, tools)
            proc = subprocess.run(
                [*base, "-"], input=text, capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False
            )
    except RuntimeError as exc:
        return Outcome(unit, False, str(exc))
    return Outcome(unit, proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render and validate every manifest source of the repo.")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    ap.add_argument("--list", action="store_true", help="only list the render units")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    units = discover(root)
    if args.list:
        for u in units:
            print(u.name)
        return 0
    if not units:
        print("manifests: nothing to validate yet (manifests/, charts/, workflows/ hold no YAML)")
        return 0
    tools = Toolchain.from_env(root)
    if tools.problems():
        for p in tools.problems():
            print(f"manifests: {p}", file=sys.stderr)
        return 2
    failed = 0
    for unit in units:
        outcome = validate(unit, tools)
        print(f"{'ok  ' if outcome.ok else 'FAIL'} {unit.name}")
        if not outcome.ok:
            failed += 1
            print("    " + outcome.output.replace("\n", "\n    "))
    print(f"manifests: {len(units) - failed} valid, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
