"""A consumer refuses an oversized body from its Content-Length before reading it, stops reading a stream
that passes the limit, and refuses a declared non-JSON content type (415)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadscore_monitors.consumer import build_app
from leadscore_monitors.deadletter import DeadLetterConsumer

CE = {"ce-specversion": "1.0", "ce-id": "x1", "ce-source": "t", "ce-type": "dev.knative.test"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(DeadLetterConsumer(), tmp_path, max_body=1024)) as c:
        yield c


@pytest.mark.parametrize("size", [1025, 10_000])
def test_declared_length_over_the_limit_is_413(client: TestClient, size: int) -> None:
    r = client.post("/", headers={**CE, "content-type": "application/json"}, content=b" " * size)
    assert r.status_code == 413 and r.json()["kind"] == "too_large"


def test_a_stream_past_the_limit_is_413_before_it_ends(server: Callable[..., Any], tmp_path: Path) -> None:
    """A chunked body that never ends: the real consumer answers 413 once the limit is passed."""
    dead = server("dead-letter", MONITOR_STATE_DIR=str(tmp_path / "dl"), MONITOR_MAX_BODY_BYTES="1024")
    head = "".join(f"{k}: {v}\r\n" for k, v in CE.items())
    with socket.create_connection(("127.0.0.1", dead.port), timeout=10) as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{head}"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(3):  # 1.5 KB and no final chunk: a server reading it all would wait forever
            sock.sendall(b"200\r\n" + b" " * 512 + b"\r\n")
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413"), answer


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_content_type_is_415(client: TestClient, ctype: str) -> None:
    r = client.post("/", headers={**CE, "content-type": ctype}, content=json.dumps({"a": 1}).encode())
    assert r.status_code == 415 and r.json()["kind"] == "content_type"


def test_json_is_accepted(client: TestClient) -> None:
    r = client.post("/", headers={**CE, "content-type": "application/json; charset=utf-8"}, content=b'{"a": 1}')
    assert r.status_code in (200, 202), r.text
    counters = client.get("/stats").json()["counters"]
    assert counters["rejected"] == 0
