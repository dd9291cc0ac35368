"""`.ci/run` runs exactly the README's test command, and `make test`'s runner behaves:
each env's tests with its own interpreter, stop at the first failure, always a summary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def commands(script: Path) -> list[str]:
    """Non-comment, non-blank lines of a shell script (continuations not needed here)."""
    return [ln.strip() for ln in script.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_ci_run_is_strict_bash_and_ends_with_make_test():
    script = ROOT / ".ci" / "run"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    lines = commands(script)
    assert "set -euo pipefail" in lines
    assert lines[-1] == "make test"
    assert lines.count("make test") == 1
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


def test_ci_run_installs_uv_and_starts_services_before_testing():
    lines = commands(ROOT / ".ci" / "run")
    test_at = lines.index("make test")
    assert any("pip install" in ln and "uv" in ln for ln in lines[:test_at])
    assert "scripts/services.sh start" in lines[:test_at]
    services = (ROOT / "scripts" / "services.sh").read_text()
    assert "pg_ctlcluster --skip-systemctl-redirect" in services
    assert 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save ""' in services


def test_readme_names_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.MULTILINE), "README must show `make test`"
    assert re.search(r"^make up\b", readme, re.MULTILINE), "README must show `make up`"


def test_make_test_installs_envs_first_and_lints():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: envs\b", makefile, re.MULTILINE)
    runner = (ROOT / "scripts" / "run-tests.sh").read_text()
    assert "ruff check" in runner and "mypy" in runner


def test_services_are_up_after_start():
    """The script `.ci/run` uses leaves PostgreSQL and Redis answering (a no-op when they run)."""
    if os.geteuid() != 0:
        pytest.skip("starting services needs root")
    proc = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "start"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout
    assert "PostgreSQL up" in check.stdout and "Redis up" in check.stdout


# --------------------------------------------------------------------------- the runner itself


def _fake_repo(
    tmp_path: Path, *, root_test: str | None, project_test: str | None, lint_rc: int = 0, type_rc: int = 0
) -> Path:
    """A miniature repo: root env + one image project 'proj', each env a wrapper around this Python."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run-tests.sh", repo / "scripts" / "run-tests.sh")

    def venv(where: Path, marker: str) -> None:
        (where / ".venv" / "bin").mkdir(parents=True)
        py = where / ".venv" / "bin" / "python"
        py.write_text(f'#!/bin/sh\nFAKE_ENV={marker} exec "{sys.executable}" "$@"\n')
        py.chmod(0o755)
        ruff = where / ".venv" / "bin" / "ruff"
        ruff.write_text(f"#!/bin/sh\necho fake ruff\nexit {lint_rc}\n")
        ruff.chmod(0o755)
        mypy = where / ".venv" / "bin" / "mypy"
        mypy.write_text(f"#!/bin/sh\necho fake mypy\nexit {type_rc}\n")
        mypy.chmod(0o755)

    venv(repo, "root")
    (repo / "proj").mkdir()
    (repo / "proj" / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    venv(repo / "proj", "proj")
    (repo / "tests" / "manifests").mkdir(parents=True)
    (repo / "tests" / "manifests" / "test_m.py").write_text("def test_m():\n    pass\n")
    if root_test is not None:
        (repo / "tests" / "test_root.py").write_text(textwrap.dedent(root_test))
    if project_test is not None:
        (repo / "tests" / "proj").mkdir()
        (repo / "tests" / "proj" / "test_p.py").write_text(textwrap.dedent(project_test))
    return repo


def _run(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the fake tests need no plugin; start faster
    return subprocess.run(
        ["bash", str(repo / "scripts" / "run-tests.sh"), "proj"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


ENV_CHECK = """
    import os
    def test_env():
        assert os.environ["FAKE_ENV"] == "{env}"
"""


def test_runner_uses_each_envs_interpreter_and_sums_up(tmp_path: Path):
    repo = _fake_repo(tmp_path, root_test=ENV_CHECK.format(env="root"), project_test=ENV_CHECK.format(env="proj"))
    proc = _run(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"^\s+proj\s+ok\s+\d+s\s+1 passed, 0 failed, 0 skipped", out, re.MULTILINE), out
    assert re.search(r"^\s+lint\s+ok", out, re.MULTILINE), out
    assert re.search(r"^\s+typecheck\s+ok", out, re.MULTILINE), out
    assert out.rstrip().splitlines()[-2] == "make-test: 3 passed, 0 failed, 0 skipped"
    assert (repo / ".leadscore" / "test-reports" / "proj.xml").is_file()


def test_runner_stops_at_the_first_failing_env_but_prints_the_summary(tmp_path: Path):
    repo = _fake_repo(
        tmp_path, root_test="def test_ok():\n    pass\n", project_test="def test_broken():\n    assert 1 == 2\n"
    )
    proc = _run(repo)
    assert proc.returncode == 1
    assert "make-test: 2 passed, 1 failed, 0 skipped" in proc.stdout
    assert re.search(r"^\s+proj\s+FAILED", proc.stdout, re.MULTILINE)
    assert "fake ruff" not in proc.stdout and "fake mypy" not in proc.stdout  # nothing ran after the failure
    assert "FAILED at step 'proj'" in proc.stderr


@pytest.mark.parametrize("step", ["lint", "typecheck"])
def test_runner_fails_when_a_check_fails(tmp_path: Path, step: str):
    repo = _fake_repo(
        tmp_path,
        root_test="def test_ok():\n    pass\n",
        project_test=None,
        lint_rc=int(step == "lint"),
        type_rc=int(step == "typecheck"),
    )
    proc = _run(repo)
    assert proc.returncode == 1
    assert re.search(r"^\s+proj\s+not run\s+0s\s+no tests/proj yet", proc.stdout, re.MULTILINE)
    assert f"FAILED at step '{step}'" in proc.stderr
    if step == "lint":
        assert "fake mypy" not in proc.stdout  # the typecheck after a failed lint never ran
    else:
        assert re.search(r"^\s+lint\s+ok", proc.stdout, re.MULTILINE)


def test_runner_refuses_a_run_where_no_test_ran(tmp_path: Path):
    repo = _fake_repo(tmp_path, root_test=None, project_test=None)
    (repo / "tests" / "manifests" / "test_m.py").unlink()
    proc = _run(repo)
    assert proc.returncode == 1
    assert "no test ran" in proc.stderr
