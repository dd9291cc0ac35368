"""Every workflow module, its rendered YAML file, and the Workflow a submission sends.

``TEMPLATES`` are the submittable WorkflowTemplates (``leadscore workflows submit NAME``); ``FILES`` maps
each committed ``workflows/<file>.yaml`` to the module that renders it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from workflows import analysis, batch_scoring, outcome_join, rbac, retraining, schedules, training

WORKFLOWS_DIR = Path(__file__).resolve().parent
TEMPLATES: dict[str, ModuleType] = {m.NAME: m for m in (training, retraining, batch_scoring, analysis, outcome_join)}
FILES: dict[str, ModuleType] = {**TEMPLATES, schedules.NAME: schedules, rbac.NAME: rbac}


class UnknownWorkflow(KeyError):
    def __str__(self) -> str:
        return f"unknown workflow {self.args[0]!r}: expected one of {', '.join(TEMPLATES)}"


class BadParameter(ValueError):
    """A submission parameter the template does not declare, or a malformed ``k=v``."""


def documents(name: str) -> list[dict[str, Any]]:
    """The Kubernetes documents of ``workflows/<name>.yaml``."""
    module = FILES.get(name)
    if module is None:
        raise UnknownWorkflow(name)
    if hasattr(module, "build_all"):
        built: list[Any] = module.build_all()
    else:
        built = [module.build()]
    return [d if isinstance(d, dict) else d.to_dict() for d in built]


def render_text(name: str) -> str:
    docs = documents(name)
    module = FILES[name].__name__.split(".")[-1]
    header = f"# Rendered from workflows/{module}.py; regenerate: python -m workflows.render --write\n"
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in docs)


def yaml_path(name: str) -> Path:
    return WORKFLOWS_DIR / f"{name}.yaml"


def template(name: str) -> dict[str, Any]:
    if name not in TEMPLATES:
        raise UnknownWorkflow(name)
    return documents(name)[0]


def defaults(name: str) -> dict[str, str]:
    """Declared parameters of template ``name`` with their default values, in order."""
    params = template(name)["spec"].get("arguments", {}).get("parameters", [])
    return {p["name"]: str(p.get("value", "")) for p in params}


def parse_params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadParameter(f"--param {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def resolve_params(name: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """Defaults of ``name`` with ``overrides`` applied; an undeclared parameter is an error."""
    declared = defaults(name)
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise BadParameter(
            f"workflow {name!r} has no parameter {', '.join(map(repr, unknown))}: it takes {', '.join(declared)}"
        )
    return {**declared, **overrides}


def submit_workflow(name: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The Workflow ``submit NAME`` sends: the template's spec inline, with the parameter values set."""
    tmpl = template(name)
    values = resolve_params(name, overrides)
    spec = copy.deepcopy(tmpl["spec"])
    spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in values.items()]}
    return {
        "apiVersion": tmpl["apiVersion"],
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{name}-",
            "namespace": tmpl["metadata"]["namespace"],
            "labels": dict(tmpl["metadata"].get("labels", {})),
        },
        "spec": spec,
    }


def write_all(check: bool = False, out: Callable[[str], None] = print) -> int:
    """Write (or with ``check`` only compare) every ``workflows/<name>.yaml``; the number out of date."""
    stale = 0
    for name in FILES:
        path, text = yaml_path(name), render_text(name)
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale += 1
        if check:
            out(f"out of date: {path.name}")
        else:
            path.write_text(text)
            out(f"wrote {path.name}")
    return stale
