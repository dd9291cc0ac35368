"""``leadscore canary render|analyze|replay|shadow-check|local``: move traffic to a model version, by hand or
under analysis; ``local`` runs the whole rollout on this machine (:mod:`leadscore.local.canary`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from leadscore.cli._errors import friendly_errors

OUTCOME_EXIT = {"passed": 0, "promoted": 0, "rolled_back": 4, "inconclusive": 5}
"""Exit code of an analysis outcome (``analyze`` and ``local``)."""
group = typer.Typer(help="Progressive delivery: render canary steps, analyse and roll back.", no_args_is_help=True)


@group.command("render")
def render_command(
    step: Annotated[str, typer.Option("--step", help="10 | 50 | 100 | rollback")],
    model_version: Annotated[int, typer.Option("--model-version", help="The version to pin (the candidate).")],
) -> None:
    """Print the InferenceService for one step: `leadscore canary render ... | kubectl apply -f -`."""
    from leadscore.delivery import render
    from leadscore.delivery.publish import store_root, version_uri
    from leadscore.delivery.settings import DeliverySettings
    from leadscore.registry.registry import STORAGE_TAG, Registry
    from training.errors import RegistryError

    with friendly_errors(False):
        settings = DeliverySettings()
        render.traffic_for(step)
        registry = Registry()
        tags = dict(registry.resolve(str(model_version)).tags or {})
        uri = tags.get(STORAGE_TAG) or version_uri(store_root(settings, registry), registry.name, model_version)
        if not tags.get(STORAGE_TAG):
            raise RegistryError(
                f"--model-version {model_version}: v{model_version} was never published ({uri} not written): "
                f"`leadscore registry promote "
                f"{model_version}` publishes it when it enters shadow/canary"
            )
        doc = render.render(render.load_base(settings.base_manifest), uri, model_version, step)
        print(render.to_yaml(doc), end="")


def _bakes(value: str) -> dict[int, int]:
    out = {}
    for part in value.split(","):
        step, _, duration = part.partition("=")
        out[int(step)] = _seconds(duration)
    return out


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    if not text or text[-1] not in units or not text[:-1].isdigit():
        raise typer.BadParameter(f"{text!r}: a duration is a number with s, m, h or d (e.g. 90m, 2d)")
    return int(text[:-1]) * units[text[-1]]


@group.command("analyze")
def analyze_command(
    model_version: Annotated[int, typer.Option("--model-version", help="The candidate (in shadow or canary).")],
    steps: Annotated[str, typer.Option(help="Traffic steps to run, e.g. 10,50 then (after approval) 100.")] = "10,50",
    bake: Annotated[str, typer.Option(help="Bake time per step, e.g. 10=1d,50=2d,100=1h.")] = "10=1d,50=2d,100=1h",
    interval: Annotated[str, typer.Option(help="Time between judgements (and their window).")] = "1h",
    promote: Annotated[bool, typer.Option(help="After the last step: promote to production and watch.")] = False,
    watch: Annotated[str, typer.Option(help="Post-promotion watch.")] = "48h",
    metrics_port: Annotated[int, typer.Option(help="Serve leadscore_canary_* metrics here (0: off).")] = 9108,
    linger: Annotated[str, typer.Option(help="Keep serving metrics this long after a rollback.")] = "2m",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Step the candidate, judge it against stable in Prometheus, roll back at the first failing check."""
    from leadscore.delivery.analysis import Analysis, Plan, WallClock
    from leadscore.delivery.kube import KubePatcher
    from leadscore.delivery.metrics import AnalysisMetrics
    from leadscore.delivery.prom import Prometheus
    from leadscore.delivery.settings import DeliverySettings
    from leadscore.registry.registry import Registry

    with friendly_errors(as_json):
        s = DeliverySettings()
        plan = Plan(
            steps=tuple(int(x) for x in steps.split(",")),
            bake_s=_bakes(bake),
            interval_s=_seconds(interval),
            promote=promote,
            watch_s=_seconds(watch),
        )
        metrics = AnalysisMetrics()
        if metrics_port:
            metrics.serve(metrics_port)
        analysis = Analysis(
            Registry(),
            Prometheus(s.prometheus_url, s.prometheus_timeout_s, s.prometheus_retries),
            KubePatcher(s.namespace, s.inference_service),
            model_version,
            plan=plan,
            metrics=metrics,
            log=lambda e: typer.echo(f"{_ts(e.at)} {e.phase:6} {e.step:3}% {e.status:12} {e.detail}", err=as_json),
        )
        outcome = analysis.run()
        if as_json:
            print(json.dumps({"status": outcome.status, "events": [e.__dict__ for e in outcome.events]}, default=str))
        if outcome.status == "rolled_back" and metrics_port:
            WallClock().sleep(_seconds(linger))
        raise typer.Exit(OUTCOME_EXIT[outcome.status])


@group.command("replay")
def replay_command(
    model_version: Annotated[int, typer.Option("--model-version", help="The candidate to re-score with.")],
    log: Annotated[
        str | None, typer.Option(help="Delta inference log (default: $LEADSCORE_HOME/lake/bronze/inference_log).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD) of logged traffic.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD) of logged traffic.")] = None,
    approve: Annotated[
        bool,
        typer.Option(
            help="Replay only the leads the champion served and record the shift as the shadow stage's approval "
            "(the candidate's history; the canary's score check is judged against it). The candidate must be in "
            "shadow."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-score the logged production requests with a candidate; report the score and tier shift."""
    import tempfile
    from datetime import date
    from pathlib import Path

    from leadscore.delivery.replay import read_logged, replay
    from leadscore.registry.registry import Registry
    from leadscore_core.artifact import LeadScorer
    from training.errors import RegistryError

    with friendly_errors(as_json):
        reg = Registry()
        uri = log or str(reg.home.lake / "bronze" / "inference_log")
        try:
            start = date.fromisoformat(since) if since else None
            end = date.fromisoformat(until) if until else None
        except ValueError as exc:
            raise RegistryError(f"--since/--until: {exc} (expected YYYY-MM-DD)") from None
        with tempfile.TemporaryDirectory(prefix="leadscore-replay-") as tmp:
            scorer = LeadScorer(reg.fetch(str(model_version), Path(tmp) / "m")).load()
            logged = read_logged(uri, scorer.spec.feature_names, start, end)
            if approve:
                report, recorded = _approve(reg, model_version, logged, scorer, uri)
            else:
                report, recorded = replay(logged, scorer, str(model_version)), None
        if as_json:
            print(json.dumps({**report.as_dict(), "approval_entry": recorded}))
            return
        typer.echo(
            f"{report.rows} logged leads (served by v{','.join(report.baseline_versions)}) re-scored with "
            f"v{model_version}: mean score {report.mean_score_baseline:.1f} -> {report.mean_score_candidate:.1f}, "
            f"mean |shift| {report.mean_abs_shift:.1f}, PSI {report.score_psi:.3f}, "
            f"tier changed for {report.tier_changed_share:.1%}"
        )
        for a, row in report.tier_matrix.items():
            typer.echo(f"  {a} -> " + ", ".join(f"{b}: {n}" for b, n in row.items()))
        if recorded is not None:
            typer.echo(f"approved: recorded as entry {recorded} of v{model_version}'s history (`registry history`)")


def _approve(reg: Any, version: int, logged: dict[str, list[Any]], scorer: Any, uri: str) -> tuple[Any, int]:
    """Replay what the champion served and record the shift as the shadow's approval; (report, entry seq)."""
    from leadscore.delivery.replay import approve
    from training.errors import RegistryError

    champion = reg.champion()
    if champion is None:
        raise RegistryError("no champion: there is no served traffic to approve a shift against")
    report, shift = approve(logged, scorer, version, int(champion.version))
    why = f"shadow replay of {report.rows} logged leads served by v{champion.version} ({uri}): score shift approved"
    return report, reg.record_evidence(str(version), why, shift.as_evidence()).seq


@group.command("shadow-check")
def shadow_check_command(
    model_version: Annotated[str, typer.Option("--model-version", help="The shadow version (or alias).")] = "shadow",
    log: Annotated[str | None, typer.Option(help="Delta inference log (default: under $LEADSCORE_HOME).")] = None,
    crm_dsn: Annotated[str | None, typer.Option(help="PostgreSQL CRM with the outcomes (none: AUC pending).")] = None,
    crm_table: Annotated[str, typer.Option(help="CRM table holding lead id and the converted flag.")] = "leads",
    min_days: Annotated[
        float | None, typer.Option(help="Minimum days in shadow (default: LEADSCORE_SHADOW_MIN_DAYS, 7).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """May the shadow start its canary? Days in shadow, agreement metrics, realized AUC vs the champion."""
    import tempfile
    import time
    from datetime import UTC, datetime
    from pathlib import Path

    from leadscore.delivery import shadow as sh
    from leadscore.delivery.prom import Prometheus
    from leadscore.delivery.replay import read_logged
    from leadscore.delivery.settings import DeliverySettings
    from leadscore.registry.registry import Registry
    from leadscore_core.artifact import LeadScorer
    from leadscore_core.settings import ShadowCriteria

    with friendly_errors(as_json):
        s, reg = DeliverySettings(), Registry()
        version = int(reg.resolve(model_version).version)
        crit = ShadowCriteria() if min_days is None else ShadowCriteria(min_days=min_days)
        since = sh.shadow_since(reg.history(str(version)))
        prom = Prometheus(s.prometheus_url, s.prometheus_timeout_s, s.prometheus_retries)
        checks = [sh.days_check(since, datetime.now(UTC), crit), *sh.agreement_checks(prom, version, time.time(), crit)]
        with tempfile.TemporaryDirectory(prefix="leadscore-shadow-") as tmp:
            scorer = LeadScorer(reg.fetch(str(version), Path(tmp) / "m")).load()
            if crm_dsn:
                uri = log or str(reg.home.lake / "bronze" / "inference_log")
                logged = read_logged(uri, scorer.spec.feature_names, None, None, ("lead_key", "probability"))
                outcomes = sh.crm_outcomes(crm_dsn, crm_table, scorer.spec, reg.home.pii_salt)
                checks.append(sh.auc_check(logged, outcomes, scorer, crit))
            else:
                checks.append(sh.Check("realized_auc", "wait", "no outcome source (--crm-dsn)"))
        result = sh.verdict(checks)
        if as_json:
            print(json.dumps({"model_version": version, **result.as_dict()}))
        else:
            typer.echo(f"shadow v{version}: {result.status}")
            for c in result.checks:
                typer.echo(f"  {c.name:36} {c.status:5} {c.detail}")
        raise typer.Exit({"ready": 0, "pending": 6, "not_ready": 7}[result.status])


@group.command("local")
def local_command(
    model_version: Annotated[
        str, typer.Option("--model-version", help="The candidate (version or alias; staging is moved to shadow).")
    ] = "shadow",
    bake: Annotated[str, typer.Option(help="Bake time per step.")] = "10=30s,50=30s,100=30s",
    interval: Annotated[str, typer.Option(help="Time between judgements (and their window).")] = "15s",
    watch: Annotated[str, typer.Option(help="Post-promotion watch.")] = "15s",
    rps: Annotated[float, typer.Option(help="Replayed requests per second (both servers together).")] = 50.0,
    leads_per_request: Annotated[int, typer.Option(help="Logged leads per /score-lead call.")] = 5,
    min_requests: Annotated[int, typer.Option(help="Requests per side before an interval is judged.")] = 50,
    min_scores: Annotated[int, typer.Option(help="Scores per side before the score PSI is judged.")] = 250,
    fault: Annotated[
        str,
        typer.Option(
            help="none | latency | wrong-model: a local-only fault of the candidate (slow answers; the stable "
            "artifact served under the candidate's version, not the model shadowed)."
        ),
    ] = "none",
    stable_url: Annotated[
        str | None, typer.Option(help="A running predictor to use as stable when it serves the champion.")
    ] = None,
    log: Annotated[
        str | None, typer.Option(help="Delta inference log to replay (default: $LEADSCORE_HOME/lake/bronze/...).")
    ] = None,
) -> None:
    """Shadow -> canary 10/50/100 -> production here: two real servers, replayed traffic, a real Prometheus,
    the same analysis as `canary analyze`; prints the timeline. Exit 4 when the candidate is rolled back."""
    import signal
    import time

    from leadscore.delivery.analysis import Plan
    from leadscore.local import canary
    from leadscore.local.traffic import DriveConfig
    from leadscore.registry.registry import Registry
    from leadscore_core.lake import INFERENCE_LOG
    from leadscore_core.settings import CanaryThresholds
    from training.errors import RegistryError

    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # unwind: the servers and Prometheus it started are stopped
    with friendly_errors(False):
        if fault not in canary.FAULTS:
            raise RegistryError(f"--fault {fault!r}: one of {', '.join(canary.FAULTS)}")
        reg = Registry()
        step_s = _seconds(interval)
        job = canary.LocalCanary(
            registry=reg,
            candidate=int(reg.resolve(model_version).version),
            plan=Plan(
                steps=(10, 50, 100),
                bake_s=_bakes(bake),
                interval_s=step_s,
                promote=True,
                watch_s=_seconds(watch),
                reference_window_s=step_s,
            ),
            thresholds=CanaryThresholds(min_requests=min_requests, min_scores=min_scores),
            drive=DriveConfig(rps=rps),
            leads_per_request=leads_per_request,
            fault=canary.FAULTS[fault],
            stable_url=stable_url,
            log_uri=log or str(reg.home.lake / INFERENCE_LOG),
            workdir=reg.home.home / "canary" / time.strftime("%Y%m%dT%H%M%S", time.gmtime()),
            echo=typer.echo,
        )
        outcome = canary.run(job).outcome
        for line in canary.summary(job, outcome):
            typer.echo(line)
        raise typer.Exit(OUTCOME_EXIT[outcome.status])


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)


def _ts(at: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="canary")
