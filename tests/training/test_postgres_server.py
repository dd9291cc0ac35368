"""The production registry configuration for real: ``mlflow server`` on a PostgreSQL backend store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.registry.registry import fetch_artifact
from leadscore_core.artifact import LeadScorer
from training.testkit import fast_settings, make_gold, write_gold
from training.train import TrainRequest, train

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _with_db(dsn: str, db: str, driver: str = "postgresql") -> str:
    parts = urlsplit(dsn)
    return urlunsplit((driver, parts.netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture
def mlflow_server(postgres_dsn: str, tmp_path: Path, free_port: int) -> Iterator[str]:
    """A throwaway database and an ``mlflow server`` subprocess on 127.0.0.1:<free port>."""
    db = f"leadscore_mlflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        _with_db(postgres_dsn, db, "postgresql+psycopg"),
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port),
        "--workers",
        "1",
    ]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_train_register_and_fetch_through_postgres_backed_server(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    frame, truth = make_gold(1500, seed=8)
    write_gold(tmp_path / "lake", frame, truth)
    first = train(TrainRequest(lake=tmp_path / "lake"), fast_settings(trials=2, plots=False))
    assert first["tracking_uri"] == mlflow_server
    assert (first["version"], first["lifecycle"]) == (1, "production")
    second = train(TrainRequest(lake=tmp_path / "lake"), fast_settings(trials=2, plots=False))
    assert second["lifecycle"] == "development" and "required" in second["gate"]["reason"]
    path = fetch_artifact("champion", tmp_path / "fetched")
    scorer = LeadScorer(path).load()
    assert scorer.manifest is not None and scorer.manifest.provenance["run_id"] == first["run_id"]
    res = CliRunner().invoke(build_app(), ["registry", "list", "--json"])
    assert res.exit_code == 0, res.output
    versions = {v["version"]: v for v in json.loads(res.stdout)["versions"]}
    assert versions[1]["aliases"] == ["champion"] and versions[2]["lifecycle"] == "development"
    # nothing of this run touched the embedded store
    assert not (tmp_path / "home" / "mlflow" / "mlflow.db").exists()
