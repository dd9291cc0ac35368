"""Fixtures of the monitoring tests: the Prometheus tools and the chart renderer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "leadscore"
RULES = CHART / "files" / "rules"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not installed: `make envs` installs Debian prometheus/prometheus-alertmanager (as root)"
        if os.environ.get("CI"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _tool("amtool")


@pytest.fixture(scope="session")
def helm_template() -> Callable[..., list[dict[str, Any]]]:
    local = ROOT / ".tools" / "bin" / "helm"
    helm = str(local) if local.exists() else shutil.which("helm")
    if helm is None:
        pytest.fail("helm not found: `make envs` installs it into .tools/bin", pytrace=False)

    def render(*args: str, namespace: str = "leadscore") -> list[dict[str, Any]]:
        cmd = [str(helm), "template", "leadscore", str(CHART), "--namespace", namespace, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    return render
