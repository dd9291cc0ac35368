"""`leadscore workflows submit` and `leadscore retrain` against a recording Argo Server stand-in."""

from __future__ import annotations

import json
import socket
import time

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import build_app
from leadscore_core.workflows import TRANSIENT_EXIT_CODE, retraining_request, workflow_name
from workflows import catalog

runner = CliRunner()


@pytest.fixture
def argo_env(monkeypatch: pytest.MonkeyPatch):
    def set_env(url: str, namespace: str = "ml-team") -> None:
        monkeypatch.setenv("ARGO_SERVER", url)
        monkeypatch.setenv("ARGO_TOKEN", "s3cr3t")
        monkeypatch.setenv("ARGO_NAMESPACE", namespace)
        monkeypatch.setenv("ARGO_BACKOFF_SECONDS", "0.01")
        monkeypatch.setenv("ARGO_TIMEOUT_SECONDS", "2")

    return set_env


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("training", ["lake=s3://lake/prod", "trials=5"]),
        ("retraining", ["reason=drift", "evidence=lead_source psi 0.9"]),
        ("batch-scoring", []),
    ],
)
def test_submit_sends_exactly_the_rendered_workflow(argo_server, argo_env, name: str, params: list[str]) -> None:
    server = argo_server()
    argo_env(server.url)
    args = ["workflows", "submit", name]
    for p in params:
        args += ["--param", p]
    res = runner.invoke(build_app(), args)
    assert res.exit_code == 0, res.output
    (req,) = server.requests
    assert req.method == "POST" and req.path == "/api/v1/workflows/ml-team"
    assert req.headers["Authorization"] == "Bearer s3cr3t"
    expected = catalog.submit_workflow(name, catalog.parse_params(params))
    assert req.body == {"workflow": expected}
    flags = [arg for p in params for arg in ("-p", p)]
    rendered = runner.invoke(build_app(), ["workflows", "render", name, "--workflow", *flags])

    assert yaml.safe_load(rendered.stdout) == expected
    values = {p["name"]: p["value"] for p in expected["spec"]["arguments"]["parameters"]}
    for p in params:
        key, _, value = p.partition("=")
        assert values[key] == value
    assert json.loads(res.stdout.strip().splitlines()[-1])["name"] == f"{name}-abcde"


def test_submit_wait_polls_until_final(argo_server, argo_env) -> None:
    server = argo_server()
    server.phase = "Failed"
    argo_env(server.url)
    res = runner.invoke(build_app(), ["workflows", "submit", "training", "--wait"])
    assert res.exit_code == 1 and "ended Failed" in res.output
    assert [r.method for r in server.requests] == ["POST", "GET"]
    assert server.requests[1].path == "/api/v1/workflows/ml-team/training-abcde"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workflows", "submit", "nope"], "unknown workflow 'nope'"),
        (["workflows", "submit", "training", "-p", "lake"], "is not KEY=VALUE"),
        (["workflows", "submit", "training", "-p", "colour=red"], "has no parameter 'colour'"),
        (["workflows", "run-local", "training", "-p", "reason=drift"], "has no parameter 'reason'"),
        (["workflows", "run-local", "nope"], "unknown workflow 'nope'"),
        (["workflows", "render", "nope"], "unknown workflow 'nope'"),
        (["retrain", "--note", "x", "-p", "colour=red"], "has no parameter 'colour'"),
    ],
)
def test_bad_input_is_a_clear_error(argo_server, argo_env, args: list[str], message: str) -> None:
    server = argo_server()
    argo_env(server.url)
    res = runner.invoke(build_app(), args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert server.requests == []


@pytest.mark.parametrize("missing", ["ARGO_SERVER", "ARGO_TOKEN"])
def test_missing_server_or_token(argo_env, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    argo_env("http://127.0.0.1:9")
    monkeypatch.delenv(missing)
    for args in (["workflows", "submit", "training"], ["retrain", "--note", "x"]):
        res = runner.invoke(build_app(), args)
        assert res.exit_code == 2 and f"{missing} is not set" in res.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_retried_with_backoff_then_a_clear_transient_error(
    argo_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    argo_env(f"http://127.0.0.1:{_closed_port()}")
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    for args in (["workflows", "submit", "training"], ["retrain", "--reason", "manual", "--note", "x"]):
        slept.clear()
        res = runner.invoke(build_app(), args)
        assert res.exit_code == TRANSIENT_EXIT_CODE, res.output
        assert "not reachable after 4" in res.output and "Traceback" not in res.output
        assert slept == [0.01, 0.02, 0.04], args  # ARGO_BACKOFF_SECONDS doubled between the 4 tries


def test_server_errors_are_retried_and_refusals_are_not(argo_server, argo_env) -> None:
    server = argo_server()
    argo_env(server.url)
    server.status = 503
    res = runner.invoke(build_app(), ["workflows", "submit", "training"])
    assert res.exit_code == TRANSIENT_EXIT_CODE and len(server.requests) == 4
    server.requests.clear()
    server.status = 403
    res = runner.invoke(build_app(), ["workflows", "submit", "training"])
    assert res.exit_code == 1 and "refused" in res.output and len(server.requests) == 1


@pytest.mark.parametrize(("reason", "note"), [("manual", "new campaign data"), ("business", "conversion -15%")])
def test_retrain_submits_the_retraining_template(argo_server, argo_env, reason: str, note: str) -> None:
    server = argo_server()
    argo_env(server.url, namespace="leadscore")
    res = runner.invoke(build_app(), ["retrain", "--reason", reason, "--note", note, "-p", "trials=7"])
    assert res.exit_code == 0, res.output
    (req,) = server.requests
    assert req.path == "/api/v1/workflows/leadscore"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert req.body == retraining_request(reason, note, namespace="leadscore", request_id=out["request_id"], trials="7")
    assert out["name"] == workflow_name("retraining", out["request_id"]) == req.body["workflow"]["metadata"]["name"]
    assert out["already_submitted"] is False
    spec = req.body["workflow"]["spec"]
    assert spec["workflowTemplateRef"] == {"name": "retraining"}
    assert {"name": "reason", "value": reason} in spec["arguments"]["parameters"]
    assert {"name": "evidence", "value": note} in spec["arguments"]["parameters"]


def test_retrain_rejects_an_unknown_reason(argo_server, argo_env) -> None:
    server = argo_server()
    argo_env(server.url)
    res = runner.invoke(build_app(), ["retrain", "--reason", "boredom"])
    assert res.exit_code == 2 and "reason 'boredom' is not one of" in res.output and server.requests == []


def _retrain(*args: str) -> dict:
    res = runner.invoke(build_app(), ["retrain", "--reason", "manual", "--note", "new campaign data", *args])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def test_manual_retrains_are_separate_runs_and_a_resent_request_is_one(argo_server, argo_env) -> None:
    """Named from a request id as the trigger names its runs: two retrains asked for separately (same note)
    are two Workflows; the same request sent again is refused by Argo (409) and reported as submitted."""
    server = argo_server()
    argo_env(server.url)
    first, second = _retrain(), _retrain()
    assert first["request_id"] != second["request_id"] and first["name"] != second["name"]
    assert sorted(server.created) == sorted([first["name"], second["name"]])
    assert not first["already_submitted"] and not second["already_submitted"]

    sent, again = _retrain("--request-id", "ticket-4711"), _retrain("--request-id", "ticket-4711")
    assert sent["name"] == again["name"] == workflow_name("retraining", "ticket-4711")
    assert (sent["already_submitted"], again["already_submitted"]) == (False, True)
    assert len(server.created) == 3 and len(server.requests) == 4


def test_a_retry_after_a_lost_answer_creates_one_workflow(argo_server, argo_env) -> None:
    """The first POST lands but its answer is lost; the client's retry is refused as AlreadyExists: one run."""
    server = argo_server()
    server.lose_answers = 1
    argo_env(server.url)
    out = _retrain()
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert server.requests[0].body == server.requests[1].body
    assert list(server.created) == [out["name"]] and out["already_submitted"] is True


def test_an_empty_request_id_is_bad_input(argo_server, argo_env) -> None:
    server = argo_server()
    argo_env(server.url)
    res = runner.invoke(build_app(), ["retrain", "--note", "x", "--request-id", " "])
    assert res.exit_code == 2 and "request id is needed" in res.output and server.requests == []
