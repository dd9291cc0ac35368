"""A recording stand-in for the Argo Server: a real HTTP server on 127.0.0.1 that stores each request and, as
Argo does, refuses a second Workflow under a name it already holds (409 AlreadyExists)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ArgoStandIn:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    """Answer to POST (set 503 to simulate a failing server)."""
    phase: str = "Succeeded"
    """phase answered to GET of a workflow."""
    created: dict[str, Any] = field(default_factory=dict)
    lose_answers: int = 0
    """This many successful POSTs create the Workflow, then close the connection unanswered (a lost answer)."""


@pytest.fixture
def argo_server() -> Iterator[Callable[[], ArgoStandIn]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> ArgoStandIn:
        state = ArgoStandIn(url="")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw)
                state.requests.append(Recorded("POST", self.path, dict(self.headers), body))
                if state.status >= 400:
                    self._answer(state.status, {"message": "stand-in says no", "code": 13})
                    return
                created = json.loads(json.dumps(body["workflow"]))
                meta = created["metadata"]
                name = meta.get("name") or meta.get("generateName", "wf-") + "abcde"
                if name in state.created:  # as Argo: a fixed name is created once
                    self._answer(409, {"message": f'workflows.argoproj.io "{name}" already exists', "code": 6})
                    return
                meta["name"] = name
                state.created[name] = created
                if state.lose_answers > 0:
                    state.lose_answers -= 1
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._answer(200, created)

            def do_GET(self) -> None:  # noqa: N802
                state.requests.append(Recorded("GET", self.path, dict(self.headers), None))
                name = self.path.rstrip("/").split("/")[-1].split("?")[0]
                if name not in state.created:
                    self._answer(404, {"message": f"workflows.argoproj.io {name!r} not found", "code": 5})
                    return
                self._answer(200, {**state.created[name], "status": {"phase": state.phase}})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        return state

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()
