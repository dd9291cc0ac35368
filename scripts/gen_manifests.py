#!/usr/bin/env python3
"""Generate manifests/ (kustomize) from the Helm chart: the chart is the one source of truth.

``helm template leadscore charts/leadscore --namespace leadscore`` with the chart defaults (plus
``charts/leadscore/manifests-values.yaml``) is split by each object's ``app.kubernetes.io/component``
label into ``manifests/<dir>/<component>.yaml``, one kustomization per directory. Helm-only labels
(``helm.sh/chart``) are dropped. tests/manifests/test_chart.py fails when manifests/ differs from a
fresh generation, so a hand edit of manifests/ cannot drift from the chart.

Usage: .venv/bin/python scripts/gen_manifests.py [--check] [--out DIR]   (make manifests)
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "leadscore"
VALUES = CHART / "manifests-values.yaml"
NAMESPACE = "leadscore"
HEADER = (
    "# GENERATED from charts/leadscore by scripts/gen_manifests.py (`make manifests`): edit the chart, not this file.\n"
)
# component label -> manifests/ directory
DIRS = {
    "serving": "serving",
    "predictor": "serving",
    "eventing": "eventing",
    "monitors": "eventing",
    "inference-log": "eventing",
    "drift-detector": "eventing",
    "shadow-scorer": "eventing",
    "retrain-trigger": "eventing",
    "event-dead-letter": "eventing",
    "outcome-metrics": "eventing",
    "monitoring": "monitoring",
    "dashboards": "monitoring",
    "alertmanager": "monitoring",
    "redis": "platform",
    "mlflow": "platform",
    "postgresql": "platform",
    "workflows": "workflows",
}
HELM_ONLY_LABELS = ("helm.sh/chart",)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (dashboards JSON, alertmanager.yaml)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def helm() -> str:
    local = ROOT / ".tools" / "bin" / "helm"
    return os.environ.get("HELM") or (str(local) if local.exists() else "helm")


def render() -> list[dict[str, Any]]:
    """The chart's objects for the kustomize base."""
    cmd = [helm(), "template", "leadscore", str(CHART), "--namespace", NAMESPACE, "--values", str(VALUES)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"gen_manifests: {' '.join(cmd)} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    for meta in (obj.get("metadata", {}), obj.get("spec", {}).get("template", {}).get("metadata", {})):
        labels = meta.get("labels") or {}
        for key in HELM_ONLY_LABELS:
            labels.pop(key, None)
    return obj


def generate() -> dict[str, str]:
    """Relative path -> file text of every generated file."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obj in render():
        component = obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")
        if component not in DIRS:
            raise SystemExit(f"gen_manifests: {obj['kind']}/{obj['metadata']['name']}: no directory for '{component}'")
        groups.setdefault((DIRS[component], component), []).append(_strip(obj))
    files: dict[str, str] = {}
    resources: dict[str, list[str]] = {}
    for (directory, component), objs in sorted(groups.items()):
        body = "---\n".join(yaml.dump(o, Dumper=_Dumper, sort_keys=False, width=120) for o in objs)
        files[f"{directory}/{component}.yaml"] = HEADER + body
        resources.setdefault(directory, []).append(f"{component}.yaml")
    for directory, names in resources.items():
        kust = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": names,
        }
        files[f"{directory}/kustomization.yaml"] = HEADER + yaml.safe_dump(kust, sort_keys=False)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "manifests", help="output directory (default manifests/)")
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff when --out is not up to date")
    args = ap.parse_args(argv)
    files = generate()
    stale = []
    for rel, text in files.items():
        path = args.out / rel
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(rel)
        if args.check:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), f"a/{rel}", f"b/{rel}", lineterm="")
            print("\n".join(list(diff)[:40]))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    generated_dirs = {rel.split("/")[0] for rel in files}
    extra = [
        str(p.relative_to(args.out))
        for d in generated_dirs
        for p in sorted((args.out / d).glob("*.yaml"))
        if str(p.relative_to(args.out)) not in files
    ]
    if args.check:
        if stale or extra:
            print(f"gen_manifests: out of date: {stale + extra}; run `make manifests`", file=sys.stderr)
            return 1
        print(f"gen_manifests: {len(files)} files up to date")
        return 0
    for rel in extra:
        (args.out / rel).unlink()
    print(f"gen_manifests: wrote {len(stale)} of {len(files)} files, removed {len(extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
