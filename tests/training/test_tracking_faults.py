"""The MLflow tracking server behind faults: closed, blackholed and slow ports fail with RegistryError
within the health check's timeout (the CLI then says what to do, no hang)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from training.errors import RegistryError
from training.tracking import check_server


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def health_server() -> Iterator[int]:
    """A real HTTP server answering ``/health`` with 200 (MLflow's health route)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _fails_within(uri: str, timeout: float, bound: float) -> float:
    t = time.monotonic()
    with pytest.raises(RegistryError, match="not reachable"):
        check_server(uri, timeout=timeout)
    took = time.monotonic() - t
    assert took < bound
    return took


def test_closed_port(free_port: int) -> None:
    _fails_within(f"http://127.0.0.1:{free_port}", 5.0, 1.5)


@pytest.mark.parametrize("timeout", [0.5, 1.0])
def test_blackholed_port(fault_server: Callable[..., Any], timeout: float) -> None:
    hole = fault_server("blackhole")
    assert _fails_within(f"http://127.0.0.1:{hole.port}", timeout, timeout + 1.0) >= timeout * 0.9


def test_slow_answer(fault_server: Callable[..., Any], health_server: int) -> None:
    slow = fault_server("slow", upstream=("127.0.0.1", health_server), delay=1.5)
    _fails_within(f"http://127.0.0.1:{slow.port}", 0.5, 1.5)
    slow.delay = 0.1
    check_server(f"http://127.0.0.1:{slow.port}", timeout=2.0)  # slow but within the timeout: healthy
