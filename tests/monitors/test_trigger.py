"""The retraining trigger: an event storm means one retrain; the cooldown survives a restart."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from leadscore_core.events import DRIFT_TYPE, RETRAIN_TYPE, DriftEvent, RetrainRequest
from leadscore_core.workflows import workflow_name
from leadscore_monitors.cloudevent import reply_event
from leadscore_monitors.settings import TriggerSettings
from leadscore_monitors.store import connect
from leadscore_monitors.trigger import TriggerConsumer


def drift_event(i: int) -> tuple[dict[str, str], bytes]:
    now = datetime.now(UTC)
    body = DriftEvent(
        model_name="lead-scoring",
        model_version="1",
        window_start=now,
        window_end=now,
        n_events=500,
        drifted_features=["lead_source"],
        psi={"lead_source": 0.9},
        threshold=0.25,
    )
    return reply_event(DRIFT_TYPE, f"drift-{i}", "/drift", body.model_dump(mode="json"))


def test_event_storm_means_one_retrain(server, tmp_path: Path) -> None:
    marker = tmp_path / "retrained"
    env = {
        "MONITOR_STATE_DIR": str(tmp_path / "trig"),
        "MONITOR_COOLDOWN_SECONDS": "3600",
        "MONITOR_COMMAND": f"touch {marker}",
    }
    trig = server("trigger", **env)
    with httpx.Client(timeout=30) as client:
        for i in range(20):
            h, b = drift_event(i)
            assert client.post(trig.url, headers=h, content=b).status_code == 200
        h, b = drift_event(3)
        assert client.post(trig.url, headers=h, content=b).status_code == 202  # redelivery: duplicate
        trig.kill()
        trig = server("trigger", **env)
        business = RetrainRequest(reason="business", detail="conversion -15%", requested_at=datetime.now(UTC))
        h, b = reply_event(RETRAIN_TYPE, "biz-1", "/outcome", business.model_dump(mode="json"))
        assert client.post(trig.url, headers=h, content=b).status_code == 200
        h, b = reply_event(RETRAIN_TYPE, "biz-2", "/outcome", {"reason": "nonsense"})
        bad = client.post(trig.url, headers=h, content=b)
        assert bad.status_code == 422 and "schema" in bad.json()["reason"]
    for _ in range(50):
        if marker.exists():
            break
        time.sleep(0.1)
    stats = trig.stats()
    assert stats["accepted"] == 1 and stats["suppressed"] == 20
    assert marker.exists()
    assert stats["counters"] == {"received": 23, "recorded": 21, "duplicated": 1, "rejected": 1}


class _ArgoRecorder:
    """A real HTTP server on 127.0.0.1 standing in for the Argo Server: records each POST, answers ``status``.

    Like Argo, it keeps the Workflows it created by name: a second create of a fixed ``metadata.name`` is
    refused with 409 AlreadyExists; a ``generateName`` request gets ``retraining-x7k2p``."""

    def __init__(self, status: int = 200) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, dict[str, str], dict]] = []
        self.created: list[str] = []
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.requests.append((self.path, dict(self.headers), body))
                name = body["workflow"]["metadata"].get("name", "retraining-x7k2p")
                status, answer = recorder.status, {"message": "forbidden"}
                if status == 200 and name in recorder.created:
                    status, answer = 409, {"code": 6, "message": f'workflows.argoproj.io "{name}" already exists'}
                elif status == 200:
                    recorder.created.append(name)
                    answer = body["workflow"] | {"metadata": {"name": name}}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wait(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


FIXED = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def _fixed_drift(ce_id: str, features: dict[str, float], score_psi: float | None) -> tuple[dict[str, str], bytes]:
    body = DriftEvent(
        model_name="lead-scoring",
        model_version="4",
        window_start=FIXED,
        window_end=FIXED,
        n_events=800,
        drifted_features=list(features),
        psi=features,
        score_psi=score_psi,
        threshold=0.25,
    )
    return reply_event(DRIFT_TYPE, ce_id, "/drift", body.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("features", "score_psi", "evidence"),
    [
        (
            {"lead_source": 0.9},
            None,
            "lead-scoring v4: drifted lead_source PSI 0.900 "
            "(threshold 0.25, 800 events up to 2026-11-30T04:00:00+00:00)",
        ),
        (
            {"country": 0.31, "company_size": 0.4},
            0.27,
            "lead-scoring v4: drifted country PSI 0.310, company_size PSI 0.400; score PSI 0.270 "
            "(threshold 0.25, 800 events up to 2026-11-30T04:00:00+00:00)",
        ),
    ],
)
def test_drift_submits_the_retraining_workflow(server, tmp_path: Path, features, score_psi, evidence) -> None:
    argo = _ArgoRecorder()
    token = tmp_path / "token"
    token.write_text("sa-token\n")
    try:
        env = {
            "MONITOR_STATE_DIR": str(tmp_path / "trig"),
            "MONITOR_COOLDOWN_SECONDS": "3600",
            "MONITOR_ARGO_SERVER": argo.url,
            "MONITOR_ARGO_NAMESPACE": "leadscore",
            "MONITOR_ARGO_TOKEN_FILE": str(token),
            "MONITOR_ARGO_PARAMETERS": '{"lake": "s3://leadscore-lake"}',
        }
        trig = server("trigger", **env)
        with httpx.Client(timeout=30) as client:
            for i in range(3):  # a storm: one submission
                h, b = _fixed_drift(f"d-{i}", features, score_psi)
                assert client.post(trig.url, headers=h, content=b).status_code == 200
        argo.wait(1)
        time.sleep(0.5)
        assert len(argo.requests) == 1
        path, headers, body = argo.requests[0]
        assert path == "/api/v1/workflows/leadscore"
        assert headers["Authorization"] == "Bearer sa-token"
        name = workflow_name("retraining", "d-0#1")  # the accepted event's id and decision number
        assert body == {
            "workflow": {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {
                    "name": name,
                    "namespace": "leadscore",
                    "labels": {
                        "app.kubernetes.io/name": "leadscore",
                        "leadscore/workflow": "retraining",
                        "leadscore/retrain-reason": "drift",
                    },
                },
                "spec": {
                    "workflowTemplateRef": {"name": "retraining"},
                    "arguments": {
                        "parameters": [
                            {"name": "evidence", "value": evidence},
                            {"name": "lake", "value": "s3://leadscore-lake"},
                            {"name": "reason", "value": "drift"},
                        ]
                    },
                },
            }
        }
        stats = trig.stats()
        assert stats["accepted"] == 1 and stats["suppressed"] == 2
        assert stats["decisions"][0]["workflow"] == name and argo.created == [name]
    finally:
        argo.close()


def test_a_refused_submission_is_recorded_not_retried(server, tmp_path: Path) -> None:
    argo = _ArgoRecorder(status=403)
    try:
        trig = server(
            "trigger",
            MONITOR_STATE_DIR=str(tmp_path / "trig"),
            MONITOR_ARGO_SERVER=argo.url,
            MONITOR_ARGO_TOKEN="t",
        )
        with httpx.Client(timeout=30) as client:
            h, b = _fixed_drift("d-1", {"lead_source": 0.5}, None)
            assert client.post(trig.url, headers=h, content=b).status_code == 200
        argo.wait(1)
        time.sleep(1.0)
        assert len(argo.requests) == 1
        decision = trig.stats()["decisions"][0]
        assert decision["returncode"] == -1 and "HTTP 403" in decision["error"]
    finally:
        argo.close()


class _FailingCommits:
    """The trigger's connection, whose first ``failures`` writes recording a started retrain fail like a full disk."""

    def __init__(self, conn: sqlite3.Connection, failures: int, statement: str) -> None:
        self.conn, self.failures, self.statement = conn, failures, statement

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        if self.failures and sql.startswith(self.statement):
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, params)


def _decided(tmp_path: Path, consumer: TriggerConsumer, event_id: str) -> sqlite3.Connection:
    conn = connect(tmp_path / "trigger.sqlite")
    consumer.setup(conn)
    request = RetrainRequest(reason="drift", detail="lead_source PSI 0.9", requested_at=FIXED)
    assert consumer.gate.decide(conn, event_id, request, time.time())
    return conn


@pytest.mark.parametrize(("event_id", "failures"), [("drift-1", 1), ("drift-77", 3)])
def test_a_failed_commit_after_submitting_means_one_workflow(tmp_path: Path, event_id: str, failures: int) -> None:
    """The submission lands, recording it fails: the retries resubmit the same name and Argo refuses them."""
    argo = _ArgoRecorder()
    try:
        settings = TriggerSettings(state_dir=tmp_path / "trig", argo_server=argo.url, argo_token="t", argo_attempts=1)
        consumer = TriggerConsumer(settings)
        conn = _decided(tmp_path, consumer, event_id)
        failing = _FailingCommits(conn, failures, "UPDATE decisions SET started")
        for _ in range(failures):  # each tick: POST lands, the commit fails (maintain raises: logged, unhealthy)
            with pytest.raises(sqlite3.OperationalError):
                consumer.maintain(failing, time.time())  # type: ignore[arg-type]
            started, workflow = conn.execute("SELECT started, workflow FROM decisions").fetchone()
            assert started is None and workflow == workflow_name("retraining", f"{event_id}#1")
        consumer.maintain(failing, time.time())  # type: ignore[arg-type]
        consumer.maintain(conn, time.time())  # nothing left to submit
        name = workflow_name("retraining", f"{event_id}#1")
        assert argo.created == [name]
        assert [b["workflow"]["metadata"]["name"] for _, _, b in argo.requests] == [name] * (failures + 1)
        started, workflow, error = conn.execute("SELECT started, workflow, error FROM decisions").fetchone()
        assert started is not None and workflow == name and error is None
        sample = consumer.registry.get_sample_value
        assert sample("leadscore_retrain_submissions_total", {"outcome": "already_submitted"}) == 1.0
        assert sample("leadscore_retrain_submissions_total", {"outcome": "submitted"}) is None
    finally:
        argo.close()


def test_a_failed_commit_never_starts_the_local_command_twice(tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    settings = TriggerSettings(state_dir=tmp_path / "trig", command=f"sh -c 'echo run >> {marker}'", run_async=False)
    consumer = TriggerConsumer(settings)
    conn = _decided(tmp_path, consumer, "drift-3")
    with pytest.raises(sqlite3.OperationalError):  # the intent cannot be recorded: nothing is started
        consumer.maintain(_FailingCommits(conn, 1, "UPDATE decisions SET started"), time.time())  # type: ignore[arg-type]
    assert not marker.exists()
    with pytest.raises(sqlite3.OperationalError):  # started, then recording the pid fails
        consumer.maintain(_FailingCommits(conn, 1, "UPDATE decisions SET pid"), time.time())  # type: ignore[arg-type]
    consumer.maintain(conn, time.time())
    consumer.maintain(conn, time.time())
    assert marker.read_text() == "run\n"
