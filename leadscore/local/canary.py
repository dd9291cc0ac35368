"""``leadscore canary local``: shadow -> canary 10 -> 50 -> 100 % -> production on this machine, decided by
the same analysis the cluster runs (:class:`leadscore.delivery.analysis.Analysis`), with bake times in
seconds.

What runs, each process on 127.0.0.1 and stopped when the command ends:

* **stable**: a predictor serving the champion's published storage (``leadscore serve``'s server). The one
  already serving (``--stable-url``) is used when it serves the champion's version;
* **candidate**: a second predictor on the candidate's published storage. ``--fault latency`` starts it
  with the local-only ``PREDICTOR_LOCAL_FAULT_DELAY_MS``; ``--fault wrong-model`` starts it on the stable
  version's artifact under the candidate's version label (a different model than the one shadowed);
* a **traffic driver** replaying the logged requests (the Delta inference log) at a steady rate, each
  step's share to the candidate (:mod:`leadscore.local.traffic`);
* **Prometheus** (the Debian binary, ``scripts/ensure-prometheus.sh``) scraping both servers every second.

Before the canary, the shadow stage re-scores the logged leads stable served with the candidate and records
the shift as the shadow's approval in the candidate's history (:mod:`leadscore.delivery.approval`); the
analysis judges the canary's live scores against it.

The analysis patches a :class:`~leadscore.local.traffic.LocalService` instead of the InferenceService: the
same merge patches, which move the driver's split as KServe moves the revisions' traffic. The registry
transitions (shadow, canary steps, archive or production) are the real ones, in the local MLflow registry.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from leadscore.delivery.analysis import Analysis, Event, Outcome, Plan
from leadscore.delivery.metrics import AnalysisMetrics
from leadscore.delivery.prom import Prometheus
from leadscore.delivery.publish import publisher
from leadscore.delivery.replay import ReplayReport, approve, read_logged, replay, served_by
from leadscore.delivery.storage import local_path
from leadscore.local import serve
from leadscore.local.traffic import DriveConfig, LocalService, TrafficDriver, replayed_requests
from leadscore.registry.registry import STORAGE_TAG, Registry
from leadscore_core.artifact import LeadScorer
from leadscore_core.resolve import resolve_artifact
from leadscore_core.settings import CanaryThresholds
from training.errors import RegistryError


@dataclass(frozen=True)
class Fault:
    """A local-only fault of the candidate server."""

    delay_ms: int = 0
    """``PREDICTOR_LOCAL_FAULT_DELAY_MS`` of the candidate (400 ms: over the 200 ms p99 limit)."""
    wrong_model: bool = False
    """Serve the stable version's artifact under the candidate's version label: not the model shadowed."""


FAULTS: dict[str, Fault] = {"none": Fault(), "latency": Fault(delay_ms=400), "wrong-model": Fault(wrong_model=True)}
"""``--fault`` -> what goes wrong in the candidate server."""
WARMUP_S = 2.0
"""Traffic before the first step, so Prometheus has scraped both servers once."""
Echo = Callable[[str], None]


@dataclass
class LocalCanary:
    """What one local rollout needs; see :func:`run`."""

    registry: Registry
    candidate: int
    plan: Plan
    thresholds: CanaryThresholds
    drive: DriveConfig = field(default_factory=DriveConfig)
    leads_per_request: int = 5
    fault: Fault = field(default_factory=Fault)
    stable_url: str | None = None
    log_uri: str = ""
    workdir: Path = Path(".")
    echo: Echo = print


@dataclass
class LocalResult:
    outcome: Outcome
    sent: dict[int, dict[str, int]]
    """model version -> HTTP status (or ``timeout``/``error``) -> replayed requests."""


@dataclass
class Stack:
    """The running local processes: URLs by model version, Prometheus, and what to stop."""

    urls: dict[int, str] = field(default_factory=dict)
    prometheus_url: str = ""
    procs: list[serve.Proc] = field(default_factory=list)


# -- registry: who is stable, who is the candidate, both published ----------------------------------------
def prepare_versions(reg: Registry, candidate: int, echo: Echo) -> int:
    """Check the candidate can be rolled out, publish the champion if it never was, bring a staging
    candidate into shadow; return the stable (champion) version."""
    champion = reg.champion()
    if champion is None:
        raise RegistryError("no champion to compare the candidate with: train one (`leadscore train`)")
    state = reg.state(str(candidate))
    if state.stage not in ("staging", "shadow", "canary"):
        raise RegistryError(
            f"v{candidate} is in {state}: only a staging, shadow or canary version can be rolled out "
            "(the promotion gate keeps a version that did not beat the champion in development)"
        )
    stable = int(champion.version)
    if not dict(champion.tags or {}).get(STORAGE_TAG):
        echo(f"    published champion v{stable}: {reg.record_storage(str(stable), publisher(reg))}")
    if state.stage == "staging":
        moved = reg.promote(str(candidate), "shadow", why="local canary: shadow replay", publish=publisher(reg))
        echo(f"    v{candidate}: staging -> shadow, published to {moved['storage_uri']}")
    return stable


def storage_dir(reg: Registry, version: int) -> Path:
    """The local directory of a version's published storage (what the servers load)."""
    uri = dict(reg.resolve(str(version)).tags or {}).get(STORAGE_TAG)
    if not uri:
        raise RegistryError(f"v{version} was never published (no {STORAGE_TAG} tag)")
    if uri.startswith("s3://"):
        raise RegistryError(f"v{version} is published to {uri}; the local loop serves local storage only")
    return local_path(uri)


# -- shadow: the candidate re-scores the logged traffic, the shift is approved -------------------------------
def shadow_stage(reg: Registry, candidate: int, stable: int, log_uri: str) -> list[str]:
    """Replay the logged leads stable served with the candidate and record the shift as the shadow's approval
    (kept when the candidate is already in canary: the analysis reads the one recorded then)."""
    scorer = LeadScorer(resolve_artifact(storage_dir(reg, candidate)).path).load()
    log = read_logged(log_uri, scorer.spec.feature_names, None, None)
    if not served_by(log, stable)["score"]:
        report = replay(log, scorer, str(candidate))
        return [_replay_line(report, candidate), f"shadow  no logged leads served by v{stable}: nothing approved"]
    report, shift = approve(log, scorer, candidate, stable)
    lines = [_replay_line(report, candidate)]
    if reg.state(str(candidate)).stage == "shadow":
        why = f"shadow replay of {report.rows} logged leads served by v{stable} ({log_uri}): score shift approved"
        entry = reg.record_evidence(str(candidate), why, shift.as_evidence())
        lines.append(
            f"shadow  approved: this shift is entry {entry.seq} of v{candidate}'s history; the canary's live "
            "scores are judged against it"
        )
    return lines


def _replay_line(report: ReplayReport, candidate: int) -> str:
    return (
        f"shadow  v{candidate} re-scored {report.rows} logged leads (served by "
        f"v{','.join(report.baseline_versions)}): mean score {report.mean_score_baseline:.1f} -> "
        f"{report.mean_score_candidate:.1f}, score PSI {report.score_psi:.3f}, "
        f"tier changed for {report.tier_changed_share:.1%}"
    )


# -- processes --------------------------------------------------------------------------------------------
def served_version(url: str, model_name: str) -> str | None:
    """The model version a running predictor serves (V2 metadata), None when it does not answer."""
    try:
        resp = httpx.get(f"{url}/v2/models/{model_name}", timeout=3.0)
    except httpx.HTTPError:
        return None
    versions = resp.json().get("versions") if resp.status_code == 200 else None
    return str(versions[0]) if versions else None


def start_server(name: str, model_dir: Path, version: int, logs: Path, delay_ms: int = 0) -> serve.Proc:
    """A predictor on ``model_dir`` whose metrics are labelled ``model_version=version``."""
    env = {"PREDICTOR_LOCAL_FAULT_DELAY_MS": str(delay_ms)} if delay_ms else {}
    log = logs / f"canary-{name}.log"
    return serve.start_predictor(model_dir, serve.free_port(), log, model_version=str(version), extra_env=env)


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RegistryError("prometheus is not installed: run scripts/ensure-prometheus.sh (Debian `prometheus`)")
    return binary


def start_prometheus(targets: dict[str, str], workdir: Path) -> serve.Proc:
    """Prometheus scraping ``targets`` (job -> host:port) every second, its TSDB under ``workdir``."""
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]} for job, t in targets.items()],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = serve.free_port()
    argv = [
        prometheus_binary(),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = workdir / "prometheus.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ready = f"http://127.0.0.1:{port}/-/ready"
    return serve.Proc("prometheus", popen, log, ready, port, serve.proc_start_time(popen.pid))


@contextmanager
def running(job: LocalCanary, stable: int) -> Iterator[Stack]:
    """Start the servers (reusing a running stable) and Prometheus; stop what was started on exit."""
    stack = Stack()
    logs = job.workdir / "logs"
    try:
        started: dict[int, serve.Proc] = {}
        if job.stable_url and served_version(job.stable_url, job.registry.name) == str(stable):
            stack.urls[stable] = job.stable_url.rstrip("/")
            job.echo(f"    stable    v{stable}: the running server {stack.urls[stable]}")
        else:
            if job.stable_url:
                job.echo(f"    {job.stable_url} does not serve champion v{stable}: starting a stable server")
            started[stable] = start_server("stable", storage_dir(job.registry, stable), stable, logs)
            stack.procs.append(started[stable])
        cand_dir = storage_dir(job.registry, stable if job.fault.wrong_model else job.candidate)
        started[job.candidate] = start_server("candidate", cand_dir, job.candidate, logs, job.fault.delay_ms)
        stack.procs.append(started[job.candidate])
        _wait_servers(stack, started, job.echo)
        _start_prometheus(stack, job.workdir, job.echo)
        yield stack
    finally:
        for proc in reversed(stack.procs):
            serve.stop_group(proc.pid)


def _wait_servers(stack: Stack, started: dict[int, serve.Proc], echo: Echo) -> None:
    for version, proc in started.items():
        serve.wait_ready(proc, timeout=180.0)
        stack.urls[version] = f"http://127.0.0.1:{proc.port}"
        role = proc.log.stem.removeprefix("canary-")
        echo(f"    {role:9} v{version}: started on {stack.urls[version]} (log {proc.log})")


def _start_prometheus(stack: Stack, workdir: Path, echo: Echo) -> None:
    targets = {f"v{v}": url.split("//", 1)[1] for v, url in stack.urls.items()}
    prom = start_prometheus(targets, workdir)
    stack.procs.append(prom)
    serve.wait_ready(prom, timeout=60.0)
    stack.prometheus_url = f"http://127.0.0.1:{prom.port}"
    echo(f"    prometheus: {stack.prometheus_url} scraping {', '.join(targets)} every 1s (data in {workdir})")


# -- the timeline -----------------------------------------------------------------------------------------
def timeline_printer(echo: Echo, t0: float, driver: TrafficDriver | None = None) -> Callable[[Event], None]:
    """Print each analysis event: time, phase, traffic share, status; each check with its value."""

    def show(event: Event) -> None:
        share = f"{event.step:3d}%" if event.phase == "canary" else "100%"
        detail = "" if event.status in ("pass", "wait") else event.detail  # those details repeat the checks
        echo(f"    +{event.at - t0:6.1f}s  {event.phase:6} {share}  {event.status:12} {detail}".rstrip())
        if event.verdict is not None:
            for check in event.verdict.get("checks", []):
                echo(f"              {check['name']:20} {check['status']:5} {check['detail']}")
        if driver is not None and event.status in ("step", "promoted", "rolled_back"):
            echo(f"              requests so far: {_sent(driver.sent())}")

    return show


def _sent(sent: dict[int, dict[str, int]]) -> str:
    return "; ".join(f"v{v} " + ", ".join(f"{s}: {n}" for s, n in by.items()) for v, by in sent.items()) or "none"


# -- the run ----------------------------------------------------------------------------------------------
def run(job: LocalCanary) -> LocalResult:
    """Shadow replay, then the canary analysis with real servers, traffic and Prometheus; the timeline is
    printed as it happens. Returns the analysis outcome (promoted, rolled_back, inconclusive)."""
    job.workdir.mkdir(parents=True, exist_ok=True)
    stable = prepare_versions(job.registry, job.candidate, job.echo)
    for line in shadow_stage(job.registry, job.candidate, stable, job.log_uri):
        job.echo("    " + line)
    spec = LeadScorer(resolve_artifact(storage_dir(job.registry, stable)).path).load().spec
    bodies = replayed_requests(job.log_uri, spec, job.leads_per_request)
    with ExitStack() as stack_ctx:
        stack = stack_ctx.enter_context(running(job, stable))
        service = LocalService(stable)
        driver = TrafficDriver(bodies, stack.urls, service, job.drive)
        driver.start()
        stack_ctx.callback(driver.stop)
        job.echo(
            f"    traffic: {len(bodies)} replayed requests of {job.leads_per_request} logged leads, "
            f"{job.drive.rps:g}/s, round robin"
        )
        outcome = _analyse(job, stack, service, driver)
        driver.stop()
        job.echo(f"    requests sent: {_sent(driver.sent())}")
    return LocalResult(outcome, driver.sent())


def _analyse(job: LocalCanary, stack: Stack, service: LocalService, driver: TrafficDriver) -> Outcome:
    time.sleep(WARMUP_S)  # a first scrape of both servers before the first step
    analysis = Analysis(
        job.registry,
        Prometheus(stack.prometheus_url, timeout_s=5.0, retries=2),
        service,
        job.candidate,
        plan=job.plan,
        thresholds=job.thresholds,
        metrics=AnalysisMetrics(),
        log=timeline_printer(job.echo, time.time(), driver),
    )
    return analysis.run()


def summary(job: LocalCanary, outcome: Outcome) -> list[str]:
    """Closing lines: the verdict and where the versions are now."""
    state = job.registry.state(str(job.candidate))
    champion = job.registry.champion()
    now = f"champion v{champion.version}" if champion else "no champion"
    lines = [f"    result: {outcome.status}; v{job.candidate} is now in {state}, {now}"]
    if outcome.status == "promoted":
        lines.append("    `leadscore serve --stop && leadscore serve --detach` serves the new champion")
    return lines
