"""The shared helpers in tests/conftest.py: ports, LEADSCORE_HOME isolation, env boundaries."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _conftest(request: pytest.FixtureRequest):
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == ROOT / "tests" / "conftest.py":
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def test_free_port_is_bindable(free_port: int):
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port))


def test_port_factory_hands_out_distinct_ports(port_factory):
    ports = {port_factory() for _ in range(5)}
    assert len(ports) == 5


def test_wait_for_port_sees_a_listener_and_times_out_without_one(wait_for_port, port_factory):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        wait_for_port(server.getsockname()[1], timeout=5)
    with pytest.raises(TimeoutError):
        wait_for_port(port_factory(), timeout=0.3)


def test_session_leadscore_home_is_isolated_from_the_checkout():
    home = Path(os.environ["LEADSCORE_HOME"])
    assert home.is_dir()
    assert ROOT not in home.parents and home != ROOT / ".leadscore"


def test_leadscore_home_fixture_is_fresh_per_test(leadscore_home: Path):
    assert os.environ["LEADSCORE_HOME"] == str(leadscore_home)
    assert list(leadscore_home.iterdir()) == []


def test_other_envs_test_dirs_are_not_collected_by_this_env(request: pytest.FixtureRequest, tmp_path: Path):
    conftest = _conftest(request)
    (tmp_path / "monitors").mkdir()
    (tmp_path / "monitors" / "pyproject.toml").write_text("")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "pyproject.toml").write_text("")
    (tmp_path / "model_server" / "predictor").mkdir(parents=True)
    (tmp_path / "model_server" / "predictor" / "pyproject.toml").write_text("")
    for d in ["monitors", "core", "model_server/predictor", "training"]:
        (tmp_path / "tests" / d).mkdir(parents=True)
    found = {str(p.relative_to(tmp_path / "tests")) for p in conftest.env_specific_test_dirs(tmp_path)}
    assert found == {"monitors", "model_server/predictor"}
    # and in this very run (root env), the real ones are ignored
    for d in conftest.env_specific_test_dirs():
        rel = str(d.relative_to(ROOT / "tests"))
        if Path(sys.prefix).resolve() != (ROOT / rel / ".venv").resolve():
            assert rel in conftest.collect_ignore


def test_missing_service_fails_under_ci_and_skips_elsewhere(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
):
    conftest = _conftest(request)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        conftest.missing("service down")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        conftest.missing("service down")


@pytest.mark.postgres
def test_postgres_fixture_points_at_a_listening_server(postgres_dsn: str):
    assert postgres_dsn.startswith("postgresql://")


@pytest.mark.redis
def test_redis_fixture_points_at_a_listening_server(redis_url: str):
    assert redis_url.startswith("redis://")
