"""Delivery fixtures: the registry store (tests/registry/registry_fixtures.py), a real Prometheus loaded with
canary scenarios, a recording Kubernetes API endpoint for the real kubernetes client, the CRD validator."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_fixtures = _load("leadscore_registry_fixtures", ROOT / "tests" / "registry" / "registry_fixtures.py")
tiny_artifacts = _fixtures.tiny_artifacts
reg_home = _fixtures.reg_home
add_version = _fixtures.add_version
manifests = _load("leadscore_build_manifests_delivery", ROOT / "scripts" / "manifests.py")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------- CRD validation
@pytest.fixture(scope="session")
def validate(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``validate(docs) -> (ok, output)`` with ../shared/tools/validate_k8s.py against the real CRDs."""
    tools = manifests.Toolchain.from_env(ROOT)
    if not tools.validator.is_file():
        pytest.skip(f"CRD validation skipped: {tools.validator} not found (../shared is absent)")
    root = tmp_path_factory.mktemp("validate")
    counter = iter(range(10_000))

    def run(docs: list[dict[str, Any]]) -> tuple[bool, str]:
        d = root / f"u{next(counter)}"
        d.mkdir()
        f = d / "docs.yaml"
        f.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        outcome = manifests.validate(manifests.Unit(name=str(f), kind="files", path=d, files=(f,)), tools)
        return outcome.ok, outcome.output

    return run


# ------------------------------------------------------------------------------------- Kubernetes API
class RecordingApi:
    """What the kube-apiserver does for one InferenceService: GET returns it, PATCH merges and returns it."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                api.requests.append({"method": "GET", "path": self.path})
                self._answer(api.obj)

            def do_PATCH(self) -> None:  # noqa: N802
                from leadscore.delivery.kube import merge_patch

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append(
                    {"method": "PATCH", "path": self.path, "content_type": self.headers["Content-Type"], "body": body}
                )
                api.obj = merge_patch(api.obj, body)
                self._answer(api.obj)

        return Handler

    @property
    def patches(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["method"] == "PATCH"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kube_api() -> Iterator[RecordingApi]:
    from leadscore.delivery.render import load_base

    base = load_base(ROOT / "manifests" / "serving" / "serving.yaml")
    api = RecordingApi(base)
    yield api
    api.close()


@pytest.fixture
def patcher(kube_api: RecordingApi):  # type: ignore[no-untyped-def]
    from kubernetes import client

    from leadscore.delivery.kube import KubePatcher

    cfg = client.Configuration()
    cfg.host = kube_api.url
    return KubePatcher("leadscore", "lead-scoring", client.ApiClient(cfg))


# ------------------------------------------------------------------------------------- Prometheus
def _prom_binaries() -> tuple[str, str]:
    promtool, prom = shutil.which("promtool"), shutil.which("prometheus")
    if (not promtool or not prom) and os.environ.get("CI"):
        subprocess.run([str(ROOT / "scripts" / "ensure-prometheus.sh")], check=True, timeout=600)
        promtool, prom = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool or not prom:
        pytest.skip("prometheus/promtool not installed: run scripts/ensure-prometheus.sh (Debian `prometheus`)")
    return promtool, prom


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real Prometheus over a TSDB backfilled with every scenario; yields its URL and scenario starts."""
    import promdata

    promtool, prom = _prom_binaries()
    root = tmp_path_factory.mktemp("prom")
    base = (int(time.time()) // 3600 - 3 * 14) * 3600  # every 3-hour segment ends in the past
    scenarios = [
        promdata.Scenario("healthy", seed=1),
        promdata.Scenario("errors", "errors", onset_min=45, seed=2),
        promdata.Scenario("latency", "latency", onset_min=45, seed=3),
        promdata.Scenario("score_shift", "score_shift", onset_min=45, seed=4),
        promdata.Scenario("kpi", "kpi", onset_min=45, seed=5),
        promdata.Scenario("quiet", canary_rps=0.1, seed=6),
        promdata.Scenario("watch_latency", "latency", onset_min=85, seed=7),
        promdata.Scenario("shifted", seed=12, shifted=True),
        promdata.Scenario("shifted_errors", "errors", onset_min=45, seed=9, shifted=True),
        promdata.Scenario("shifted_latency", "latency", onset_min=45, seed=10, shifted=True),
        promdata.Scenario("shifted_score_shift", "score_shift", onset_min=45, seed=11, shifted=True),
    ]
    starts = [(base + i * 3 * 3600, sc) for i, sc in enumerate(scenarios)]
    (root / "data.om").write_text(promdata.openmetrics(starts))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"), str(root / "tsdb")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = _port()
    (root / "prometheus.yml").write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    proc = subprocess.Popen(
        [
            prom,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            "--storage.tsdb.retention.time=30d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "prometheus.log").open("w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "prometheus.log")
        yield {"url": url, "starts": {sc.name: start for start, sc in starts}}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"prometheus not ready in {timeout}s: {log.read_text()[-2000:]}")


# ------------------------------------------------------------------------------------- registry template
def build_store(home: Path, artifacts: list[Path]) -> Path:
    """A registry home with v1 = published champion (``artifacts[0]``) and v2 = published shadow candidate."""
    import mlflow

    from leadscore.delivery.publish import publisher
    from leadscore.registry.registry import Registry
    from leadscore_core.settings import HomeSettings
    from training.logging_model import log_pyfunc
    from training.tracking import ensure_experiment

    mp = pytest.MonkeyPatch()
    mp.setenv("LEADSCORE_HOME", str(home))
    mp.setenv("LEADSCORE_ACTOR", "test-operator")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("LEADSCORE_DELIVERY_MODEL_STORE", raising=False)
    try:
        reg = Registry(home=HomeSettings(home=home))
        mlflow.set_experiment(experiment_id=ensure_experiment("delivery-tests", HomeSettings(home=home)))
        for i, (stage, decision) in enumerate((("production", "bootstrap"), ("staging", "promoted"))):
            with mlflow.start_run() as run:
                uri, model_id = log_pyfunc(artifacts[i])
            tags = {"gate_decision": decision, "gate_reason": f"test gate: {decision}"}
            reg.register(uri, run.info.run_id, stage, tags, "test", model_id=model_id)
        reg.record_storage("1", publisher(reg))
        reg.promote("2", publish=publisher(reg))  # staging -> shadow, published
    finally:
        mp.undo()
    return home


@pytest.fixture(scope="session")
def store_builder():  # type: ignore[no-untyped-def]
    """:func:`build_store`, for tests that need their own pair of versions."""
    return build_store


@pytest.fixture(scope="session")
def prometheus_binaries() -> tuple[str, str]:
    """(promtool, prometheus) paths; skips with the reason when they are not installed."""
    return _prom_binaries()


@pytest.fixture(scope="session")
def published_store(tmp_path_factory: pytest.TempPathFactory, tiny_artifacts: list[Path]) -> Path:
    """A home with v1 = published champion and v2 = published shadow candidate (built once, copied per test)."""
    return build_store(tmp_path_factory.mktemp("store") / "home", tiny_artifacts)


def use_store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of a store built by :func:`build_store`, made the current ``LEADSCORE_HOME``."""
    home = tmp_path / "home"
    shutil.copytree(template, home)
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.setenv("LEADSCORE_ACTOR", "test-operator")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LEADSCORE_DELIVERY_MODEL_STORE", str(template / "model-store"))
    return home


@pytest.fixture
def store_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``use(template) -> home``: :func:`use_store` bound to this test's tmp_path and monkeypatch."""
    return lambda template: use_store(template, tmp_path, monkeypatch)


@pytest.fixture
def store(published_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_store(published_store, tmp_path, monkeypatch)
