"""``leadscore serve``: the real serving processes on 127.0.0.1, as KServe runs them in the cluster.

Default (``--design merged``, what manifests/serving deploys): one MLServer predictor process
(``model_server/predictor/.venv``) serves the CRM path ``/score-lead`` and ``/metrics`` on ``--port`` and,
with ``--events-url``, posts the PII-free payload CloudEvents itself (model_server/README.md, "Design").
``--design transformer`` runs the kserve transformer (``model_server/transformer/.venv``) in front of the
predictor instead, each as its own process group. Process management here is also what the serving tests use.

Process control (docs/operations.md): ``serve.json`` records each server's pid, port and start time (the
kernel's, from ``/proc/<pid>/stat``); ``--stop`` signals a process group only when that pid still has
that start time, so a reused pid is never touched. In the foreground SIGTERM and SIGINT stop the
servers before the command exits. A server that exits while starting (a failed model load) ends the
command at once with the server's own error line. Detached servers are NOT supervised: a crashed server
stays down (``--status`` shows it) until ``--stop`` and a new ``serve``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from leadscore.local.envs import EnvironmentMissing, env_python

RUN_STATE = "serve.json"


@dataclass
class Proc:
    """A started server: its process group, log and readiness URL."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    ready_url: str
    port: int = 0
    start_time: int | None = None
    """Kernel start time of the pid (clock ticks since boot), read right after the spawn."""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def record(self) -> dict[str, Any]:
        """What ``serve.json`` keeps of this server."""
        return {"pid": self.pid, "port": self.port, "start_time": self.start_time, "log": str(self.log)}


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message carries its own error line(s)."""


def proc_start_time(pid: int) -> int | None:
    """The kernel start time of ``pid`` (field 22 of ``/proc/<pid>/stat``); ``None`` if there is no such
    running process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing one
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, not yet reaped by its parent: no longer running
        return None
    return int(fields[19])


def is_ours(pid: int, start_time: int | None) -> bool:
    """True when ``pid`` is alive and is the very process recorded (same kernel start time)."""
    return start_time is not None and proc_start_time(pid) == start_time


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(
    name: str, argv: list[str], env: dict[str, str], log: Path, ready_url: str, cpu: str | None, port: int
) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    if cpu is not None:
        argv = ["taskset", "-c", cpu, *argv]
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, log, ready_url, port, proc_start_time(popen.pid))


def start_predictor(
    model_dir: Path,
    port: int,
    log: Path,
    *,
    host: str = "127.0.0.1",
    model_version: str = "",
    extra_env: dict[str, str] | None = None,
    cpu: str | None = None,
) -> Proc:
    """Start ``python -m leadscore_predictor`` (MLServer, parallel_workers=0, debug off) on ``port``."""
    env = {
        "PREDICTOR_MODEL_URI": str(model_dir),
        "PREDICTOR_HOST": host,
        "PREDICTOR_HTTP_PORT": str(port),
        "PREDICTOR_GRPC_PORT": str(free_port()),
        "PREDICTOR_METRICS_PORT": str(free_port()),
        "PREDICTOR_MODEL_VERSION": model_version,
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    url = f"http://{host}:{port}/v2/models/{env.get('PREDICTOR_MODEL_NAME', 'lead-scoring')}/ready"
    argv = [str(env_python("predictor")), "-m", "leadscore_predictor"]
    return _spawn("predictor", argv, env, log, url, cpu, port)


def start_transformer(
    predictor_port: int,
    port: int,
    log: Path,
    *,
    host: str = "127.0.0.1",
    extra_env: dict[str, str] | None = None,
    cpu: str | None = None,
) -> Proc:
    """Start ``python -m leadscore_transformer`` (kserve) on ``port`` in front of the predictor."""
    env = {
        "TRANSFORMER_PREDICTOR_HOST": f"127.0.0.1:{predictor_port}",
        "TRANSFORMER_HOST": host,
        "TRANSFORMER_HTTP_PORT": str(port),
        **(extra_env or {}),
    }
    url = f"http://{host}:{port}/v2/health/ready"
    argv = [str(env_python("transformer")), "-m", "leadscore_transformer"]
    return _spawn("transformer", argv, env, log, url, cpu, port)


def wait_ready(proc: Proc, timeout: float = 180.0) -> None:
    """Poll the readiness URL until 200 (each poll bounded to 2 s).

    Raises:
        ServerFailed: the process exited (a failed load exits at once), with its ERROR lines; or it was not
            ready after ``timeout`` seconds, with the log tail.
    """
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise ServerFailed(
                f"{proc.name} exited with code {proc.popen.returncode}: {server_error(proc.log)} (log {proc.log})"
            )
        try:
            if httpx.get(proc.ready_url, timeout=min(2.0, max(deadline - time.monotonic(), 0.1))).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServerFailed(f"{proc.name} not ready after {timeout:.0f}s; log {proc.log}:\n{_tail(proc.log)}")


def server_error(log: Path) -> str:
    """The server's own ERROR message(s) from its JSON-lines log (first line of each), else the log tail."""
    messages = []
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("level") in ("ERROR", "CRITICAL"):
            msg = str(doc.get("message", "")).splitlines()
            if msg and msg[0] not in messages:
                messages.append(msg[0])
    return "; ".join(messages[:3]) if messages else _tail(log, 10)


def stop_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``pid``, SIGKILL it after ``grace`` seconds (MLServer may ignore TERM)."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                _reap(pid)
                return
            _reap(pid)
            time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def sample_lead(model_dir: Path) -> dict[str, Any]:
    """A request body for the model's contract: every feature set to a plausible value, plus fake PII."""
    from leadscore_core.artifact import MANIFEST, Manifest

    spec = Manifest.model_validate_json((model_dir / MANIFEST).read_text()).spec
    lead: dict[str, Any] = {spec.id_column: "lead-0001"}
    for fd in spec.fields:
        if fd.pii:
            lead[fd.name] = {"email": "jane@example.com", "phone": "+971500000000"}.get(fd.name, "Jane Roe")
    for f in spec.features:
        if f.type == "categorical":
            lead[f.name] = (f.vocab or [""])[0]
        elif f.type == "boolean":
            lead[f.name] = True
        elif f.type == "numeric":
            lo, hi = f.min if f.min is not None else 0.0, f.max if f.max is not None else 10.0
            lead[f.name] = round(lo + min(hi - lo, 20.0) / 4, 2)
    return lead


def resolve_model(model_dir: Path | None, alias: str) -> tuple[Path, str]:
    """The artifact directory and registry version (:func:`leadscore_core.resolve.resolve_artifact`):
    ``--model-dir`` as given, else the registry alias or version through the registry download."""
    from leadscore_core.resolve import ArtifactNotFound, resolve_artifact

    if model_dir is not None:
        try:
            resolved = resolve_artifact(model_dir)
        except ArtifactNotFound as exc:
            raise typer.BadParameter(str(exc), param_hint="--model-dir") from None
        return resolved.path, resolved.version
    try:
        from leadscore.registry.registry import fetch_artifact

        name = _model_name()
        ref = f"models:/{name}/{alias}" if alias.isdigit() else f"models:/{name}@{alias}"
        resolved = resolve_artifact(ref, fetch_artifact)
    except Exception as exc:  # RegistryError and friends: say what to do instead of a traceback
        raise typer.BadParameter(f"{exc} (or pass --model-dir)", param_hint="--alias") from None
    return resolved.path, resolved.version


def _model_name() -> str:
    from leadscore_core.settings import HomeSettings

    return HomeSettings().model_name


def _home() -> Path:
    from leadscore_core.settings import HomeSettings

    return HomeSettings().home.resolve()


def _servers(run: Path) -> dict[str, dict[str, Any]]:
    state = run / RUN_STATE
    if not state.exists():
        return {}
    servers = json.loads(state.read_text()).get("servers", {})
    return servers if isinstance(servers, dict) else {}


def _stop_all(run: Path) -> list[str]:
    """Stop the recorded servers that are still the processes we started; say what happened to each."""
    report = []
    for name, rec in _servers(run).items():
        pid, start = int(rec["pid"]), rec.get("start_time")
        if proc_start_time(pid) is None:
            report.append(f"{name} (pid {pid}) had already exited")
        elif not is_ours(pid, start):
            report.append(f"{name}: pid {pid} now belongs to another process, not touched")
        else:
            stop_group(pid)
            report.append(f"stopped {name} (pid {pid})")
    (run / RUN_STATE).unlink(missing_ok=True)
    for pidfile in run.glob("serve-*.pid"):  # written by older versions
        pidfile.unlink()
    return report


def _status(run: Path) -> list[str]:
    out = []
    for name, rec in _servers(run).items():
        alive = is_ours(int(rec["pid"]), rec.get("start_time"))
        out.append(f"{name}: pid {rec['pid']} port {rec['port']} {'running' if alive else 'NOT running'}")
    return out


class _Stop(Exception):
    """SIGTERM or SIGINT arrived: stop the servers and exit."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def _start(path: Path, version: str, design: str, events_url: str, host: str, port: int, logs: Path) -> list[Proc]:
    """Start the servers of ``design`` and wait until each is ready; on any failure stop those started."""
    procs: list[Proc] = []
    try:
        if design == "merged":
            log = logs / "serve-predictor.log"
            env = {"PREDICTOR_EVENTS_SINK_URL": events_url} if events_url else None
            procs.append(start_predictor(path, port, log, host=host, model_version=version, extra_env=env))
            wait_ready(procs[0])
        else:
            pport = free_port()
            procs.append(start_predictor(path, pport, logs / "serve-predictor.log", model_version=version))
            wait_ready(procs[0])
            procs.append(start_transformer(pport, port, logs / "serve-transformer.log", host=host))
            wait_ready(procs[1])
    except BaseException:
        for p in procs:
            stop_group(p.pid)
        raise
    return procs


def register(app: typer.Typer) -> None:
    """Add ``leadscore serve`` to the CLI."""

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Bind address of the CRM port.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="CRM port: POST /score-lead and GET /metrics.")] = 8080,
        model_dir: Annotated[
            Path | None, typer.Option(help="Artifact dir (manifest.json) instead of the registry.")
        ] = None,
        alias: Annotated[str, typer.Option(help="Registry alias or version (no --model-dir).")] = "champion",
        design: Annotated[
            str, typer.Option(help="merged (MLServer custom handler, deployed) or transformer (kserve -> MLServer).")
        ] = "merged",
        events_url: Annotated[
            str, typer.Option(help="Payload CloudEvents to this URL (a consumer's or broker's); merged design only.")
        ] = "",
        detach: Annotated[
            bool, typer.Option(help="Keep serving after the command returns (not supervised: no restart).")
        ] = False,
        stop: Annotated[bool, typer.Option(help="Stop servers started with --detach.")] = False,
        status: Annotated[bool, typer.Option(help="Show whether the detached servers still run.")] = False,
    ) -> None:
        """Serve the champion model locally: real MLServer predictor + kserve transformer processes."""
        home = _home()
        run, logs = home / "run", home / "logs"
        run.mkdir(parents=True, exist_ok=True)
        if stop:
            report = _stop_all(run)
            typer.echo("\n".join(report) if report else "nothing to stop")
            return
        if status:
            typer.echo("\n".join(_status(run)) or "nothing recorded")
            return
        if design not in ("transformer", "merged"):
            raise typer.BadParameter("transformer or merged", param_hint="--design")
        if events_url and design != "merged":
            raise typer.BadParameter("payload events come from the merged design only", param_hint="--events-url")
        if (run / RUN_STATE).exists():
            typer.echo(f"already serving ({run / RUN_STATE}); `leadscore serve --stop` first", err=True)
            raise typer.Exit(1)
        path, version = resolve_model(model_dir, alias)
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            _serve(path, version, design, events_url, host, port, run, logs, detach)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _serve(
    path: Path, version: str, design: str, events_url: str, host: str, port: int, run: Path, logs: Path, detach: bool
) -> None:
    try:
        procs = _start(path, version, design, events_url, host, port, logs)
    except ServerFailed as exc:
        typer.echo(f"leadscore serve: {exc}", err=True)
        raise typer.Exit(1) from None
    except EnvironmentMissing as exc:
        typer.echo(f"cannot start the servers: {exc}", err=True)
        raise typer.Exit(2) from None
    except _Stop as exc:
        typer.echo(f"{exc}: servers stopped", err=True)
        raise typer.Exit(1) from None
    sample = run / "sample-lead.json"
    sample.write_text(json.dumps(sample_lead(path), indent=2))
    state = {
        "servers": {p.name: p.record() for p in procs},
        "pids": {p.name: p.pid for p in procs},
        "port": port,
        "host": host,
        "design": design,
        "started_at": time.time(),
    }
    (run / RUN_STATE).write_text(json.dumps(state, indent=2))
    base = f"http://{host}:{port}"
    typer.echo(f"serving {path} (version {version or 'from artifact'}) on {base} [{design}]")
    typer.echo(f"  curl -s -H 'Content-Type: application/json' {base}/score-lead -d @{sample}")
    typer.echo(f"  curl -s {base}/metrics | grep ^leadscore_")
    typer.echo(f"  OpenAPI: {base}/score-lead/openapi.json   logs: {logs}/serve-*.log")
    if detach:
        typer.echo(
            "detached; NOT supervised: a server that crashes stays down (`leadscore serve --status`); "
            "stop with `leadscore serve --stop`"
        )
        return
    typer.echo("Ctrl-C or SIGTERM stops")
    failed = False
    try:
        while all(p.popen.poll() is None for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if p.popen.poll() is not None)
        typer.echo(f"{dead.name} exited ({server_error(dead.log)}); stopping", err=True)
        failed = True
    except _Stop as exc:
        typer.echo(f"{exc}: stopping", err=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        for p in procs:
            stop_group(p.pid)
        (run / RUN_STATE).unlink(missing_ok=True)
        sys.stdout.flush()
    if failed:
        raise typer.Exit(1)
