"""Helpers shared by the tests of every environment.

This file is loaded by the root (tools/training) env *and* by each image env
(`model_server/predictor/.venv`, `model_server/transformer/.venv`, `monitors/.venv`), so it
imports only the standard library and pytest.

What it provides:

* collection boundaries: `tests/<project>` for an image project (`<project>/pyproject.toml`)
  is only collected by that project's own interpreter (the Makefile also passes `--ignore`);
* `LEADSCORE_HOME` isolation: the whole session points `LEADSCORE_HOME` at a temporary
  directory, so no test reads or writes `./.leadscore`; the `leadscore_home` fixture gives a
  test its own empty home;
* markers: `slow`, `postgres`, `redis`, `spark`, `on_cluster`, `needs_shared`;
* fixtures: `repo_root`, `shared_dir`, `free_port`, `port_factory`, `wait_for_port`,
  `postgres_dsn`, `redis_url`.

Services: a test that needs PostgreSQL/Redis is skipped when the service is down on a
developer machine, but fails under CI (`CI=true`), where `.ci/run` starts them first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# Image projects whose tests need that image's own env. A directory is an image project iff
# it holds a pyproject.toml; its tests live in tests/<same path>. core/ is installed into every
# env and its tests run in the root env.
_NOT_IMAGE_PROJECTS = {"core"}

MARKERS = {
    "slow": "long-running (Spark, Optuna, real servers)",
    "postgres": "talks to the real PostgreSQL on 127.0.0.1:5432",
    "redis": "talks to the real Redis on 127.0.0.1:6379",
    "spark": "starts a local PySpark session (needs Java 17)",
    "on_cluster": "needs a Kubernetes cluster; never run by `make test`",
    "needs_shared": "needs ../shared (validator, CRDs, data sets)",
}

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def env_specific_test_dirs(root: Path = ROOT) -> list[Path]:
    """Test directories that belong to an image project's own env.

    `tests/<p>` is env-specific when `<p>/pyproject.toml` exists (p != root, p != core).
    """
    out = []
    tests = root / "tests"
    for pyproject in sorted(root.glob("*/pyproject.toml")) + sorted(root.glob("*/*/pyproject.toml")):
        project = pyproject.parent.relative_to(root)
        if project.parts[0] in _NOT_IMAGE_PROJECTS or project.parts[0].startswith("."):
            continue
        if (tests / project).is_dir():
            out.append(tests / project)
    return out


def _running_in(project_dir: Path) -> bool:
    venv = project_dir / ".venv"
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


# Paths are relative to this conftest's directory (tests/). An image env still collects its
# own tests/<p>: it is given on the command line, and only other envs' dirs are ignored.
collect_ignore = [
    str(d.relative_to(TESTS)) for d in env_specific_test_dirs() if not _running_in(ROOT / d.relative_to(TESTS))
]


_SESSION_HOME: Path | None = None
_PREVIOUS_HOME: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _SESSION_HOME, _PREVIOUS_HOME
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    # one temporary LEADSCORE_HOME for the whole session: nothing touches ./.leadscore
    _PREVIOUS_HOME = os.environ.get("LEADSCORE_HOME")
    _SESSION_HOME = Path(tempfile.mkdtemp(prefix="leadscore-test-home-"))
    os.environ["LEADSCORE_HOME"] = str(_SESSION_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS_HOME is None:
        os.environ.pop("LEADSCORE_HOME", None)
    else:
        os.environ["LEADSCORE_HOME"] = _PREVIOUS_HOME
    if _SESSION_HOME is not None:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)


def in_ci() -> bool:
    """True when running under CI (`CI=true`), where a missing service is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip on a developer machine, fail under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required)", pytrace=False)
    pytest.skip(reason)


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_open(host: str, port: int, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Block until host:port accepts connections; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(host, port, timeout=interval):
            return
        time.sleep(interval)
    raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.0f}s")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the directory holding the root pyproject.toml)."""
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` (or $SHARED_DIR); skipped with a clear message when it is absent."""
    path = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared")).resolve()
    if not path.is_dir():
        pytest.skip(f"shared/ not found at {path}: set SHARED_DIR or place the shared checkout beside the repo")
    return path


@pytest.fixture
def leadscore_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty LEADSCORE_HOME for this test only."""
    home = tmp_path / "leadscore-home"
    home.mkdir()
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    return home


@pytest.fixture
def free_port() -> int:
    """One free TCP port on 127.0.0.1."""
    return find_free_port()


@pytest.fixture
def port_factory() -> Callable[[], int]:
    """Call it for as many distinct free ports on 127.0.0.1 as the test needs."""
    handed_out: set[int] = set()

    def next_port() -> int:
        for _ in range(50):
            port = find_free_port()
            if port not in handed_out:
                handed_out.add(port)
                return port
        raise RuntimeError("no distinct free port found")

    return next_port


@pytest.fixture
def wait_for_port() -> Callable[..., None]:
    """`wait_for_port(port, host="127.0.0.1", timeout=30)`: wait for a server to listen."""

    def _wait(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        wait_until_open(host, port, timeout=timeout)

    return _wait


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of the real local PostgreSQL ($LEADSCORE_TEST_PG_DSN overrides); skip/fail if down."""
    dsn = os.environ.get("LEADSCORE_TEST_PG_DSN", DEFAULT_PG_DSN)
    parts = urlsplit(dsn)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if not port_is_open(host, port):
        missing(f"PostgreSQL is not reachable at {host}:{port} (start it with scripts/services.sh)")
    yield dsn


@pytest.fixture(scope="session")
def scratch_database(postgres_dsn: str) -> Iterator[Callable[[str], str]]:
    """Factory: ``scratch_database(prefix)`` creates a fresh database and returns its DSN; every
    database it made is dropped at the end of the session. psycopg is imported only when used, so
    this conftest stays importable in images without it."""
    import uuid

    import psycopg
    from psycopg import conninfo, sql

    made: list[str] = []

    def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return conninfo.make_conninfo(postgres_dsn, dbname=name)

    yield create
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the real local Redis ($LEADSCORE_TEST_REDIS_URL overrides); skip/fail if down."""
    url = os.environ.get("LEADSCORE_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if not port_is_open(host, port):
        missing(f"Redis is not reachable at {host}:{port} (start it with scripts/services.sh)")
    yield url


class FaultServer:
    """A misbehaving TCP peer on 127.0.0.1 for fault-injection tests (stdlib threads, no event loop).

    ``blackhole``: accepts connections, reads nothing back, never answers (a hung peer or a dropped route
    that still completes the handshake). ``slow``: relays each connection to ``upstream`` (a real server),
    holding every chunk of the answer ``delay`` seconds first. With an upstream, ``mode`` and ``delay`` may
    be changed while it runs (``blackhole`` then drops what arrives, on open connections too).
    """

    def __init__(self, mode: str, upstream: tuple[str, int] | None = None, delay: float = 0.0) -> None:
        import threading

        if mode not in ("blackhole", "slow") or (mode == "slow" and upstream is None):
            raise ValueError(f"bad fault server {mode!r} (slow needs an upstream)")
        self.mode, self.upstream, self.delay = mode, upstream, delay
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._closed.is_set():
                conn.close()
                return
            self._held.append(conn)
            if self.upstream is not None:
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        import threading

        assert self.upstream is not None
        try:
            up = socket.create_connection(self.upstream)
        except OSError:
            conn.close()
            return
        self._held.append(up)

        def pump(src: socket.socket, dst: socket.socket, answer: bool) -> None:
            try:
                while chunk := src.recv(65536):
                    if self.mode == "blackhole":
                        continue  # swallowed: the peer never hears back
                    if answer and self.delay:
                        time.sleep(self.delay)
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(conn, up, False), daemon=True).start()
        pump(up, conn, True)

    def close(self) -> None:
        """Stop listening (the port is then closed: connections are refused) and drop every connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
        self._sock.close()
        for s in self._held:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """``fault_server("blackhole")`` / ``fault_server("slow", upstream=(host, port), delay=s)``: a peer that
    hangs or answers late; closed at the end of the test. A closed port is ``find_free_port()`` unused."""
    made: list[FaultServer] = []

    def make(mode: str, upstream: tuple[str, int] | None = None, delay: float = 0.0) -> FaultServer:
        server = FaultServer(mode, upstream, delay)
        made.append(server)
        return server

    yield make
    for s in made:
        s.close()
