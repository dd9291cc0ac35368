"""``leadscore serve``: the real serving processes on 127.0.0.1, as KServe runs them in the cluster.

Default (``--design merged``, what manifests/serving deploys): one MLServer predictor process
(``model_server/predictor/.venv``) serves the CRM path ``/score-lead`` and ``/metrics`` on ``--port`` and,
with ``--events-url``, posts the PII-free payload CloudEvents itself (model_server/README.md, "Design").
``--design transformer`` runs the kserve transformer (``model_server/transformer/.venv``) in front of the
predictor instead, each as its own process group. Process management here is also what the serving tests use.
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

    @property
    def pid(self) -> int:
        return self.popen.pid


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(name: str, argv: list[str], env: dict[str, str], log: Path, ready_url: str, cpu: str | None) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    if cpu is not None:
        argv = ["taskset", "-c", cpu, *argv]
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, log, ready_url)


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
    return _spawn("predictor", [str(env_python("predictor")), "-m", "leadscore_predictor"], env, log, url, cpu)


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
    return _spawn("transformer", [str(env_python("transformer")), "-m", "leadscore_transformer"], env, log, url, cpu)


def wait_ready(proc: Proc, timeout: float = 180.0) -> None:
    """Poll the readiness URL until 200; raise with the log tail if the process dies or times out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); log {proc.log}:\n{_tail(proc.log)}")
        try:
            if httpx.get(proc.ready_url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{proc.name} not ready after {timeout:.0f}s; log {proc.log}:\n{_tail(proc.log)}")


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
            lead[f.name] = (f.categories or [""])[0]
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


def _stop_all(run: Path) -> list[str]:
    state = run / RUN_STATE
    stopped = []
    if state.exists():
        for name, pid in json.loads(state.read_text()).get("pids", {}).items():
            stop_group(int(pid))
            stopped.append(f"{name} (pid {pid})")
        state.unlink()
    for pidfile in run.glob("serve-*.pid"):
        pidfile.unlink()
    return stopped


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
        detach: Annotated[bool, typer.Option(help="Keep serving; pids in LEADSCORE_HOME/run.")] = False,
        stop: Annotated[bool, typer.Option(help="Stop servers started with --detach.")] = False,
    ) -> None:
        """Serve the champion model locally: real MLServer predictor + kserve transformer processes."""
        home = _home()
        run, logs = home / "run", home / "logs"
        run.mkdir(parents=True, exist_ok=True)
        if stop:
            stopped = _stop_all(run)
            typer.echo("stopped " + ", ".join(stopped) if stopped else "nothing to stop")
            return
        if design not in ("transformer", "merged"):
            raise typer.BadParameter("transformer or merged", param_hint="--design")
        if events_url and design != "merged":
            raise typer.BadParameter("payload events come from the merged design only", param_hint="--events-url")
        if (run / RUN_STATE).exists():
            typer.echo(f"already serving ({run / RUN_STATE}); `leadscore serve --stop` first", err=True)
            raise typer.Exit(1)
        path, version = resolve_model(model_dir, alias)
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
        except EnvironmentMissing as exc:
            typer.echo(f"cannot start the servers: {exc}", err=True)
            raise typer.Exit(2) from None
        except BaseException:
            for p in procs:
                stop_group(p.pid)
            raise
        sample = run / "sample-lead.json"
        sample.write_text(json.dumps(sample_lead(path), indent=2))
        state = {"pids": {p.name: p.pid for p in procs}, "port": port, "host": host, "design": design}
        (run / RUN_STATE).write_text(json.dumps(state))
        for p in procs:
            (run / f"serve-{p.name}.pid").write_text(str(p.pid))
        base = f"http://{host}:{port}"
        typer.echo(f"serving {path} (version {version or 'from artifact'}) on {base} [{design}]")
        typer.echo(f"  curl -s -H 'Content-Type: application/json' {base}/score-lead -d @{sample}")
        typer.echo(f"  curl -s {base}/metrics | grep ^leadscore_")
        typer.echo(f"  OpenAPI: {base}/score-lead/openapi.json   logs: {logs}/serve-*.log")
        if detach:
            typer.echo("detached; stop with `leadscore serve --stop`")
            return
        typer.echo("Ctrl-C stops")
        try:
            while all(p.popen.poll() is None for p in procs):
                time.sleep(0.5)
            typer.echo("a server exited; stopping", err=True)
        except KeyboardInterrupt:
            pass
        finally:
            _stop_all(run)
            sys.stdout.flush()
