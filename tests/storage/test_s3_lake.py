"""The lake and the model artifacts on S3, end to end, against an S3 API emulator (moto's server mode, a real
HTTP server on 127.0.0.1): ``pipeline run`` writes the medallion to ``s3://``, ``train`` reads gold back from it
and logs its MLflow artifacts there, ``registry fetch`` downloads the model from it, ``batch score`` reads gold
and writes ``gold/lead_scores`` there (Spark scores local copies of the snapshot's Parquet files: it has no
``s3a://`` filesystem here), refuses to run without a champion and re-runs idempotently.

An endpoint that does not answer fails within its bounds with exit 75, naming the endpoint, and leaves nothing
registered or written; so does one that stops answering MLflow's own S3 client after the checks passed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore.datagen.generate import GenerateConfig, generate
from leadscore_core.artifact import LeadScorer
from leadscore_core.storage import S3Settings
from leadscore_core.workflows import TRANSIENT_EXIT_CODE
from training.testkit import make_gold, write_gold

pytestmark = [pytest.mark.slow, pytest.mark.spark]
runner = CliRunner()
BUCKET = "leadscore-lake"
FAST_TRAINING = {
    "TRAINING_TRIALS": "2",
    "TRAINING_CV_FOLDS": "2",
    "TRAINING_MAX_ROUNDS": "60",
    "TRAINING_EARLY_STOPPING_ROUNDS": "10",
    "TRAINING_N_JOBS": "1",
    "TRAINING_PLOTS": "false",
    "TRAINING_REFERENCE_SAMPLE_SIZE": "300",
}


def _s3_env(monkeypatch: pytest.MonkeyPatch, home: Path, endpoint: str, timeouts: str = "5") -> None:
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_LAKE", raising=False)
    for key in ("AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.setenv(key, endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("LEADSCORE_S3_CONNECT_TIMEOUT", timeouts)
    monkeypatch.setenv("LEADSCORE_S3_REQUEST_TIMEOUT", timeouts)
    monkeypatch.setenv("LEADSCORE_S3_MAX_RETRIES", "1")
    monkeypatch.setenv("LEADSCORE_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("LEADSCORE_SPARK_DRIVER_MEMORY", "1g")
    monkeypatch.setenv("LEADSCORE_SPARK_SHUFFLE_PARTITIONS", "2")
    for key, value in FAST_TRAINING.items():
        monkeypatch.setenv(key, value)


def _keys(client, prefix: str) -> list[str]:  # noqa: ANN001
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture
def spark_session() -> Iterator[None]:
    """The commands' Spark session (local[2]); stopped at the end when this test started it."""
    from pyspark.sql import SparkSession

    before = SparkSession.getActiveSession()
    yield
    after = SparkSession.getActiveSession()
    if before is None and after is not None:
        after.stop()


def test_lake_and_models_round_trip_through_s3(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_emulator: str,
    scratch_database: Callable[[str], str],
    spark_session: None,
) -> None:
    _s3_env(monkeypatch, tmp_path / "home", s3_emulator)
    monkeypatch.setenv("LEADSCORE_MLFLOW_ARTIFACTS", f"s3://{BUCKET}/mlflow")
    s3 = boto3.client("s3", endpoint_url=s3_emulator, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    raw = tmp_path / "raw"
    manifest = generate(GenerateConfig(rows=600, seed=5, out=raw))
    lake = f"s3://{BUCKET}/lake"
    monkeypatch.chdir(tmp_path)  # a lake taken for a local path would show up here as ./s3:

    res = runner.invoke(build_app(), ["pipeline", "run", "--source", "files", str(raw), "--lake", lake, "--json"])
    assert res.exit_code == 0, res.output
    report = _last_json(res.stdout)
    assert report["lake"] == lake and report["reconciled"] is True
    assert report["counts"]["gold/lead_features"]["out"] == manifest["expected"]["gold_rows"]
    gold_log = _keys(s3, "lake/gold/lead_features/_delta_log/")
    assert any(k.endswith(".json") for k in gold_log)
    assert _keys(s3, f"lake/_runs/{report['batch_id']}.json")
    assert not (tmp_path / "s3:").exists() and not list(tmp_path.glob("**/_delta_log"))

    again = runner.invoke(build_app(), ["pipeline", "run", "--source", "files", str(raw), "--lake", lake, "--json"])
    assert again.exit_code == 0, again.output
    assert _last_json(again.stdout)["written"] == []  # the ingested-files state was read back from S3

    dsn = scratch_database("i9_s3")
    res = runner.invoke(build_app(), ["batch", "score", "--lake", lake, "--dsn", dsn])  # no champion yet
    assert res.exit_code == 2 and "has no champion" in res.output and "Traceback" not in res.output
    assert _keys(s3, "lake/gold/lead_scores/") == [] and _crm_tables(dsn) == []

    res = runner.invoke(build_app(), ["train", "--lake", lake, "--json"])
    assert res.exit_code == 0, res.output
    trained = _last_json(res.stdout)
    assert trained["version"] == 1 and trained["lifecycle"] == "production"
    assert trained["gold_table"] == f"{lake}/gold/lead_features"
    assert trained["gold_version"] == report["versions"]["gold/lead_features"]
    model_keys = _keys(s3, "mlflow/")
    assert any(k.endswith("artifacts/leadscore/manifest.json") for k in model_keys)
    assert not list((tmp_path / "home").glob("**/manifest.json"))  # nothing of the model was kept locally

    out = tmp_path / "champion"
    res = runner.invoke(build_app(), ["registry", "fetch", "champion", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    scorer = LeadScorer(out).load()
    assert scorer.manifest is not None and scorer.manifest.provenance["gold_table"] == f"{lake}/gold/lead_features"

    for run in (1, 2):  # Spark scores local copies of the snapshot's files; delta-rs writes the scores to S3
        res = runner.invoke(build_app(), ["batch", "score", "--lake", lake, "--dsn", dsn, "--json"])
        assert res.exit_code == 0, res.output
        scored = _last_json(res.stdout)
        assert scored["rows"] == scored["crm_rows"] == manifest["expected"]["gold_rows"]
        assert scored["delta_table"] == f"{lake}/gold/lead_scores" and scored["delta_version"] == run - 1
        scores = DeltaTable(scored["delta_table"], storage_options=S3Settings().delta_options()).to_pandas()
        with psycopg.connect(dsn) as conn:
            crm = dict(conn.execute("SELECT lead_id, probability FROM lead_scores").fetchall())
        # the re-run replaces the same rows (Delta overwrite, CRM upsert): one row per lead in each
        assert len(scores) == len(crm) == manifest["expected"]["gold_rows"] and scores["lead_id"].is_unique
        assert all(abs(crm[i] - p) < 1e-12 for i, p in zip(scores["lead_id"], scores["probability"], strict=True))
    assert not list(tmp_path.glob("**/_delta_log"))  # nothing of the lake was written locally


def _crm_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return [r[0] for r in rows.fetchall()]


def _registered(home: Path) -> list:
    from leadscore.registry.registry import Registry
    from leadscore_core.settings import HomeSettings

    return Registry(home=HomeSettings(home=home)).versions()


@pytest.mark.parametrize(
    ("command", "fault"),
    [("pipeline", "blackhole"), ("train", "refused"), ("train-artifacts", "blackhole"), ("batch", "refused")],
)
def test_an_unreachable_s3_endpoint_fails_fast_and_leaves_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_server: Callable[..., object],
    port_factory: Callable[[], int],
    command: str,
    fault: str,
) -> None:
    port = fault_server("blackhole").port if fault == "blackhole" else port_factory()  # type: ignore[attr-defined]
    endpoint = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    _s3_env(monkeypatch, home, endpoint, timeouts="1")
    lake = f"s3://{BUCKET}/lake"
    if command == "train-artifacts":  # the lake is local and fine; the model's artifact store is not
        lake = str(tmp_path / "lake")
        frame, truth = make_gold(600, seed=3)
        write_gold(Path(lake), frame, truth)
        monkeypatch.setenv("LEADSCORE_MLFLOW_ARTIFACTS", f"s3://{BUCKET}/mlflow")
    args = {
        "pipeline": ["pipeline", "run", "--source", "files", str(tmp_path / "raw"), "--lake", lake],
        "train": ["train", "--lake", lake, "--json"],
        "train-artifacts": ["train", "--lake", lake, "--json"],
        "batch": ["batch", "score", "--lake", lake, "--dsn", "postgresql://nobody@127.0.0.1:1/none"],
    }[command]
    started = time.monotonic()
    res = runner.invoke(build_app(), args)
    took = time.monotonic() - started
    assert res.exit_code == TRANSIENT_EXIT_CODE, res.output
    assert "not reachable" in res.output and f"127.0.0.1:{port}" in res.output
    assert "Traceback" not in res.output
    assert took < 30, f"{command}: {took:.1f}s: the S3 bounds did not hold"
    assert _registered(home) == []
    assert not (tmp_path / "s3:").exists()


def _runs(home: Path) -> list:
    from mlflow.tracking import MlflowClient

    from leadscore_core.settings import HomeSettings

    uri = HomeSettings(home=home).tracking_uri
    client = MlflowClient(tracking_uri=uri)
    return [run for exp in client.search_experiments() for run in client.search_runs([exp.experiment_id])]


def test_mlflow_s3_calls_are_bounded_when_the_endpoint_stops_answering(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_emulator: str,
    fault_server: Callable[..., object],
) -> None:
    """MLflow's own S3 client (not ours): the endpoint answers the pre-checks, then stops answering (a relay
    to the emulator turned into a blackhole). botocore's defaults would wait 60 s per read, per attempt; the
    S3 settings bound it. A download fails with exit 75 and leaves no partial copy; a model whose artifacts
    cannot be logged is not registered and its run ends FAILED."""
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository

    import training.train as train_module

    relay = fault_server("slow", upstream=("127.0.0.1", int(s3_emulator.rsplit(":", 1)[1])))
    endpoint = f"http://127.0.0.1:{relay.port}"  # type: ignore[attr-defined]
    home = tmp_path / "home"
    _s3_env(monkeypatch, home, endpoint, timeouts="1")
    monkeypatch.setenv("LEADSCORE_MLFLOW_ARTIFACTS", f"s3://{BUCKET}/mlflow")
    boto3.client("s3", endpoint_url=s3_emulator, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    lake = tmp_path / "lake"
    write_gold(lake, *make_gold(600, seed=3))
    res = runner.invoke(build_app(), ["train", "--lake", str(lake), "--json"])
    assert res.exit_code == 0, res.output  # through the relay while it relays

    relay.mode = "blackhole"  # type: ignore[attr-defined]
    out = tmp_path / "champion"
    started = time.monotonic()
    res = runner.invoke(build_app(), ["registry", "fetch", "champion", "--out", str(out), "--json"])
    took = time.monotonic() - started
    assert res.exit_code == TRANSIENT_EXIT_CODE, res.output
    assert "artifact store" in res.output and "not reachable" in res.output and endpoint in res.output
    assert took < 40, f"download: {took:.1f}s: MLflow's S3 client was not bounded"
    assert not out.exists() and not list(tmp_path.glob("champion*"))

    # mid-download: the whole listing answers, the files do not (MLflow gathers its download threads' errors
    # into one MlflowException that quotes botocore's)
    relay.mode = "slow"  # type: ignore[attr-defined]
    listing, depth = S3ArtifactRepository._iter_artifacts_recursive, [0]

    def listed_then_the_endpoint_went_away(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        depth[0] += 1  # it recurses into subdirectories: the endpoint goes away once the outermost is done
        try:
            files = list(listing(self, *args, **kwargs))
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            relay.mode = "blackhole"  # type: ignore[attr-defined]
        return iter(files)

    with monkeypatch.context() as patched:
        patched.setattr(S3ArtifactRepository, "_iter_artifacts_recursive", listed_then_the_endpoint_went_away)
        res = runner.invoke(build_app(), ["registry", "fetch", "champion", "--out", str(out), "--json"])
    assert relay.mode == "blackhole"  # type: ignore[attr-defined]
    assert res.exit_code == TRANSIENT_EXIT_CODE, res.output
    assert "artifact store" in res.output and "not reachable" in res.output and endpoint in res.output
    assert not out.exists() and not list(tmp_path.glob("champion*"))

    relay.mode = "slow"  # type: ignore[attr-defined]
    went_away: list[float] = []
    log_run = train_module.log_run

    def log_run_after_the_endpoint_went_away(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        relay.mode = "blackhole"  # type: ignore[attr-defined]
        went_away.append(time.monotonic())
        return log_run(*args, **kwargs)

    monkeypatch.setattr(train_module, "log_run", log_run_after_the_endpoint_went_away)
    res = runner.invoke(build_app(), ["train", "--lake", str(lake), "--json"])
    took = time.monotonic() - went_away[0]
    assert res.exit_code == TRANSIENT_EXIT_CODE, res.output
    assert "logging the model" in res.output and "not reachable" in res.output and endpoint in res.output
    assert "Traceback" not in res.output
    assert took < 40, f"registration: {took:.1f}s: MLflow's S3 client was not bounded"
    assert [v.version for v in _registered(home)] == [1]  # the champion only: nothing new registered
    assert sorted(run.info.status for run in _runs(home)) == ["FAILED", "FINISHED"]
