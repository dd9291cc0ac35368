"""``leadscore workflows run-local NAME``: run a workflow's steps here, in dependency order.

It walks the DAG rendered from the same hera module the cluster gets and runs each step's container
``command + args`` as a subprocess, with Argo's parameter substitution (``{{workflow.parameters.x}}``,
``{{inputs.parameters.x}}``, ``{{tasks.T.outputs.parameters.p}}``), ``when`` conditions (``a == b`` /
``a != b``) and output parameters read from the files the step writes (``valueFrom.path``, mapped to a
per-step directory). Not a controller: no retries, pods, volumes or artifacts; init containers run first.
A failed step stops the run and is named; the exit handler runs either way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.common import MONITORS_IMAGE, OUTPUT_DIR, TOOLS_IMAGE

REPO = Path(__file__).resolve().parents[1]
VAR = re.compile(r"\{\{\s*([a-zA-Z0-9_.-]+)\s*\}\}")
DEP_NAME = re.compile(r"([A-Za-z0-9_-]+)(?:\.[A-Za-z]+)?")


class StepFailed(RuntimeError):
    def __init__(self, step: str, code: int, why: str = "") -> None:
        why = why or f"exit code {code}"
        super().__init__(f"step {step!r} failed ({why}); the steps after it did not run")
        self.step, self.code = step, code


@dataclass
class Event:
    at: float
    step: str
    status: str  # Running | Succeeded | Failed | Skipped
    outputs: dict[str, str] = field(default_factory=dict)


def local_commands() -> dict[str, dict[str, str]]:
    """image -> {container command: local executable}: the env that image is built from."""
    bin_dir = Path(sys.executable).parent
    monitors = REPO / "monitors" / ".venv" / "bin" / "python"
    return {
        TOOLS_IMAGE: {"leadscore": str(bin_dir / "leadscore"), "python": sys.executable},
        MONITORS_IMAGE: {"python": str(monitors)},
    }


def substitute(text: str, scope: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in scope:
            raise KeyError(f"unresolved {{{{{key}}}}}")
        return scope[key]

    return VAR.sub(one, text)


def condition(expr: str) -> bool:
    """Argo ``when`` after substitution: ``a == b`` or ``a != b`` (string comparison)."""
    for op in ("!=", "=="):
        left, sep, right = expr.partition(op)
        if sep:
            equal = left.strip().strip("'\"") == right.strip().strip("'\"")
            return equal if op == "==" else not equal
    raise ValueError(f"unsupported when expression {expr!r} (run-local knows a == b and a != b)")


def dependencies(task: Mapping[str, Any]) -> list[str]:
    names = list(task.get("dependencies", []))
    names += [m.group(1) for m in DEP_NAME.finditer(task.get("depends", "")) if m.group(1) not in ("", "&&")]
    return [n for n in dict.fromkeys(names) if n not in ("Succeeded", "Skipped", "Failed")]


def order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in dependency order (stable: declaration order among the ready ones)."""
    by_name = {t["name"]: t for t in tasks}
    done: list[str] = []
    while len(done) < len(tasks):
        ready = [t for t in tasks if t["name"] not in done and all(d in done for d in dependencies(t))]
        if not ready:
            raise ValueError(f"dependency cycle or unknown task among {sorted(set(by_name) - set(done))}")
        done.append(ready[0]["name"])
    return [by_name[n] for n in done]


class LocalRun:
    """One local run of a rendered WorkflowTemplate (``spec`` as rendered) with parameter values."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        parameters: Mapping[str, str],
        name: str,
        workdir: Path | None = None,
        on_event: Callable[[Event], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.spec, self.name = spec, name
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.scope = {f"workflow.parameters.{k}": v for k, v in parameters.items()}
        self.scope["workflow.name"] = name
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"leadscore-{name}-"))
        self.events: list[Event] = []
        self.outputs: dict[str, dict[str, str]] = {}
        self.on_event = on_event or (lambda e: None)
        self.env = {**os.environ, **(env or {})}
        self.commands = local_commands()

    def _emit(self, step: str, status: str, outputs: dict[str, str] | None = None) -> None:
        event = Event(time.time(), step, status, outputs or {})
        self.events.append(event)
        self.on_event(event)

    def run(self) -> dict[str, str]:
        """Run the entrypoint DAG, then the exit handler; the DAG's output parameters."""
        failure: StepFailed | None = None
        try:
            self._dag(self.templates[self.spec["entrypoint"]])
        except StepFailed as exc:
            failure = exc
        status = "Failed" if failure else "Succeeded"
        self.scope.update({"workflow.status": status, "workflow.failures": str(failure or "")})
        if self.spec.get("onExit"):
            self._step(self.spec["onExit"], self.templates[self.spec["onExit"]], {})
        if failure:
            raise failure
        return self._dag_outputs(self.templates[self.spec["entrypoint"]])

    def _dag(self, template: Mapping[str, Any]) -> None:
        for task in order(template["dag"]["tasks"]):
            if task.get("when") and not condition(substitute(task["when"], self.scope)):
                self._emit(task["name"], "Skipped")
                continue
            args = {
                p["name"]: substitute(str(p.get("value", "")), self.scope)
                for p in task.get("arguments", {}).get("parameters", [])
            }
            outputs = self._step(task["name"], self.templates[task["template"]], args)
            for key, value in outputs.items():
                self.scope[f"tasks.{task['name']}.outputs.parameters.{key}"] = value

    def _dag_outputs(self, template: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        for p in template.get("outputs", {}).get("parameters", []):
            ref = p.get("valueFrom", {}).get("parameter", "")
            try:
                out[p["name"]] = substitute(ref, self.scope)
            except KeyError:
                continue  # produced by a skipped step
        return out

    def _command(self, container: Mapping[str, Any], image: str, scope: Mapping[str, str], out_dir: Path) -> list[str]:
        local = self.commands.get(image)
        if local is None:
            raise ValueError(f"run-local does not know image {image!r}")
        command = [local.get(c, c) for c in container.get("command", [])]
        args = [substitute(a, scope).replace(OUTPUT_DIR, str(out_dir)) for a in container.get("args", [])]
        return command + args

    def _step(self, step: str, template: Mapping[str, Any], inputs: Mapping[str, str]) -> dict[str, str]:
        scope = {**self.scope, **{f"inputs.parameters.{k}": v for k, v in inputs.items()}}
        out_dir = self.workdir / step / "outputs"
        out_dir.mkdir(parents=True, exist_ok=True)
        self._emit(step, "Running")
        containers = [*template.get("initContainers", []), template["container"]]
        for container in containers:
            argv = self._command(container, container.get("image", ""), scope, out_dir)
            code = subprocess.run(argv, env=self.env, check=False).returncode
            if code != 0:
                self._emit(step, "Failed")
                raise StepFailed(step, code)
        outputs = {}
        for p in template.get("outputs", {}).get("parameters", []):
            path = p.get("valueFrom", {}).get("path", "")
            local = Path(path.replace(OUTPUT_DIR, str(out_dir)))
            if not local.is_file():
                self._emit(step, "Failed")
                raise StepFailed(step, 0, f"it did not write its output parameter {p['name']!r} ({path})")
            outputs[p["name"]] = local.read_text().strip()
        self._emit(step, "Succeeded", outputs)
        return outputs
