"""Replay generated CRM traffic through the serving path and the monitors; print one JSON summary.

``python -m leadscore_monitors replay --from DIR --model-dir ARTIFACT [--serve-url URL] [--window N]``
(``leadscore monitor replay`` in the tools env resolves the champion and calls this).

1. The consumers (drift detector, inference-log sink, optionally the shadow scorer) start as real HTTP
   servers on 127.0.0.1, each with its own state directory.
2. Each line of ``DIR/score_requests.jsonl`` is one CRM call. With a serving URL (``--serve-url``, or the
   one ``leadscore serve`` recorded in ``$LEADSCORE_HOME/run/serve.json``) it goes to ``/score-lead`` and
   the local logger stand-in emits the request/response pair (PII redacted); without one the leads are
   encoded and scored in-process and the pair is the predictor's V2 traffic, as KServe logs it.
3. The windows are closed, the consumers' ``/stats`` read, the servers stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from leadscore_core.artifact import LeadScorer, artifact_version
from leadscore_core.events import lead_key
from leadscore_core.settings import DriftThresholds, HomeSettings
from leadscore_core.validation import check_record

from leadscore_monitors.forwarder import LocalBroker, PayloadLogger, Subscription, redact
from leadscore_monitors.plots import psi_chart
from leadscore_monitors.v2 import v2_pairs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def consumer(component: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``python -m leadscore_monitors <component>`` in its own process group; yield its URL."""
    port = _free_port()
    full = {**os.environ, **env, "MONITOR_HOST": "127.0.0.1", "MONITOR_PORT": str(port)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leadscore_monitors", component],
            env=full,
            stdout=fh,
            stderr=fh,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{component} exited ({proc.returncode}); log: {log}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{component} did not start in 300 s; log: {log}")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def read_requests(path: Path) -> tuple[list[dict[str, Any]], int]:
    """CRM request lines; lines that are not JSON objects are counted, not sent."""
    leads, bad = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(obj, dict):
            leads.append(obj)
        else:
            bad += 1
    return leads, bad


def serve_url_from_run(home: Path) -> str | None:
    state = home / "run" / "serve.json"
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    return f"http://{data.get('host', '127.0.0.1')}:{data['port']}"


CONSUMERS = ("drift", "sink", "shadow")
"""Consumer names, in the order of the replay's subscriptions."""
MAX_THROTTLED_ATTEMPTS = 30
"""Tries per lead while the serving rate limit answers 429 (each waits its ``Retry-After``)."""


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.05), 10.0)
    except ValueError:
        return 1.0


async def send_traffic(
    leads: list[dict[str, Any]],
    logger: PayloadLogger,
    scorer: LeadScorer,
    serve_url: str | None,
    salt: str,
    concurrency: int = 8,
) -> dict[str, int]:
    """Score every lead (via ``serve_url`` or in-process) and log each call as a CloudEvent pair."""
    counts = {"sent": 0, "logged_pairs": 0, "serving_errors": 0, "invalid": 0, "throttled": 0}
    sem = asyncio.Semaphore(concurrency)
    spec = scorer.spec
    prepared: dict[int, tuple[bytes, bytes]] = {}
    if serve_url is None:
        # in-process: validate like /score-lead would, score every valid lead in one booster call
        valid: list[int] = []
        records, keys = [], []
        for i, lead in enumerate(leads):
            rec = check_record(spec, lead)
            if not rec.ok:
                counts["invalid"] += 1  # /score-lead would answer 422; nothing is logged
                continue
            valid.append(i)
            records.append(rec.values)
            keys.append(lead_key(str(lead[spec.id_column]), salt) if lead.get(spec.id_column) else None)
        for i, (req, resp) in zip(valid, v2_pairs(scorer, records, keys), strict=True):
            prepared[i] = (json.dumps(req).encode(), json.dumps(resp).encode())
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def one(i: int, lead: dict[str, Any]) -> None:
            async with sem:
                counts["sent"] += 1
                ce_id = str(uuid.uuid4())
                if serve_url is not None:
                    body = json.dumps(lead).encode()
                    for _ in range(MAX_THROTTLED_ATTEMPTS):  # a well-behaved client: 429 -> wait Retry-After
                        resp = await client.post(
                            f"{serve_url}/score-lead",
                            content=body,
                            headers={"content-type": "application/json", "x-request-id": ce_id},
                        )
                        if resp.status_code != 429:
                            break
                        counts["throttled"] += 1
                        await asyncio.sleep(_retry_after(resp.headers.get("retry-after")))
                    if resp.status_code in (400, 413, 422):  # refused by the contract, as in-process would
                        counts["invalid"] += 1
                        return
                    if resp.status_code >= 300:
                        counts["serving_errors"] += 1
                        return
                    await logger.log_pair(ce_id, redact(spec, body, salt), redact(spec, resp.content, salt))
                elif i in prepared:
                    await logger.log_pair(ce_id, *prepared[i])
                else:
                    return  # invalid, counted when prepared
                counts["logged_pairs"] += 1

        await asyncio.gather(*(one(i, lead) for i, lead in enumerate(leads)))
    return counts


def summarize(
    drift: dict[str, Any],
    sink: dict[str, Any] | None,
    shadow: dict[str, Any] | None,
    traffic: dict[str, int],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The one JSON object ``replay`` prints."""
    windows = drift["windows"]
    last = windows[-1]["result"] if windows else None
    drifted: list[str] = []
    for w in windows:
        for f in w["drifted_features"]:
            if f not in drifted:
                drifted.append(f)
    features = {}
    if last:
        for name, fd in last["features"].items():
            features[name] = {
                "psi": round(fd["psi"], 6),
                "kl": round(fd["kl"], 6),
                "test": fd["test"],
                "p_value": fd["p_value"],
                "p_adjusted": fd.get("p_adjusted"),
                "threshold": fd.get("threshold"),
                "seasonality": fd.get("seasonality", "none"),
            }
    out: dict[str, Any] = {
        **meta,
        "traffic": traffic,
        "window_size": meta.get("window_size"),
        "windows": [
            {
                "window": w["window"],
                "n": w["n"],
                "is_drift": w["is_drift"],
                "drifted_features": w["drifted_features"],
                "score_psi": w["result"].get("score_psi"),
                "multivariate_drift": w["result"].get("multivariate_drift"),
                "seasonal_drift": w["result"].get("seasonal_drift", []),
                "new_values": w["result"].get("new_values", {}),
                "reason_drift": w["result"].get("reason_drift", False),
                "bias_drift": w["result"].get("bias_drift", []),
            }
            for w in windows
        ],
        "features": features,
        "drifted_features": drifted,
        "score_psi": last.get("score_psi") if last else None,
        "seasonal_drift": last.get("seasonal_drift", []) if last else [],
        "new_values": last.get("new_values", {}) if last else {},
        "reason_psi": (last.get("reasons") or {}).get("psi") if last else None,
        "bias_drift": last.get("bias_drift", []) if last else [],
        "events": drift["counters"],
        "rejections": drift.get("rejections", {}),
        "consumers": {"drift-detector": drift["counters"]},
    }
    if sink is not None:
        out["consumers"]["inference-log"] = sink["counters"]
        out["inference_log"] = {k: sink[k] for k in ("table_uri", "rows_written", "delta_commits", "unjoined")}
    if shadow is not None:
        out["consumers"]["shadow-scorer"] = shadow["counters"]
        out["shadow"] = {
            "shadow_version": shadow["shadow_version"],
            "pairs": shadow["pairs"],
            "windows": shadow["windows"][-3:],
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="leadscore_monitors replay", description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="src", required=True, type=Path, help="directory written by `data generate`")
    p.add_argument("--model-dir", required=True, type=Path, help="serving model artifact (drift reference)")
    p.add_argument("--shadow-model-dir", type=Path, default=None, help="shadow artifact: also run the shadow scorer")
    p.add_argument("--serve-url", default=None, help="serving base URL (default: the running `leadscore serve`)")
    p.add_argument("--in-process", action="store_true", help="score in-process even if a server is running")
    p.add_argument("--window", type=int, default=0, help="leads per drift window (default: all traffic in one)")
    p.add_argument("--backend", choices=["alibi", "evidently"], default="alibi")
    p.add_argument("--state-dir", type=Path, default=None, help="default: $LEADSCORE_HOME/monitor/replay-<time>")
    p.add_argument("--table-uri", default=None, help="inference log (default: $LEADSCORE_HOME/lake/bronze/...)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--json", action="store_true", help="print only the JSON object (always JSON on stdout)")
    a = p.parse_args(argv)
    # SIGTERM (timeout, Ctrl-C of a parent) must unwind the context managers that stop the consumers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    home = HomeSettings()
    requests_path = a.src / "score_requests.jsonl"
    if not requests_path.exists():
        raise SystemExit(f"{requests_path}: not found (write it with `leadscore data generate --out {a.src}`)")
    leads, unreadable = read_requests(requests_path)
    if not leads:
        raise SystemExit(f"{requests_path}: no lead to replay")
    serve_url = None if a.in_process else (a.serve_url or serve_url_from_run(home.home))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    state = a.state_dir or home.home / "monitor" / f"replay-{stamp}"
    state.mkdir(parents=True, exist_ok=True)
    window = a.window or len(leads)
    scorer = LeadScorer(a.model_dir).load()
    base_env = {"LEADSCORE_HOME": str(home.home), "MONITOR_LOG_LEVEL": os.environ.get("MONITOR_LOG_LEVEL", "WARNING")}
    drift_env = {
        **base_env,
        "MONITOR_MODEL_DIR": str(a.model_dir),
        "MONITOR_STATE_DIR": str(state / "drift"),
        "MONITOR_WINDOW_SIZE": str(window),
        "MONITOR_WINDOW_SECONDS": str(24 * 3600),
        "MONITOR_BACKEND": a.backend,
    }
    sink_env = {**base_env, "MONITOR_STATE_DIR": str(state / "sink"), "MONITOR_SPEC": str(state / "spec.yaml")}
    import yaml

    (state / "spec.yaml").write_text(yaml.safe_dump(scorer.spec.model_dump(mode="json"), sort_keys=False))
    if a.table_uri:
        sink_env["MONITOR_TABLE_URI"] = a.table_uri
    logs = state / "logs"
    meta = {
        "from": str(a.src),
        "model_dir": str(a.model_dir),
        "model_version": artifact_version(a.model_dir, scorer.manifest),
        "serving": serve_url or "in-process",
        "backend": a.backend,
        "window_size": window,
        "thresholds": DriftThresholds().model_dump(),
        "state_dir": str(state),
        "unreadable_lines": unreadable,
    }
    started = time.time()
    with (
        consumer("drift", drift_env, logs / "drift.log") as drift_url,
        consumer("sink", sink_env, logs / "sink.log") as sink_url,
    ):
        subs = [Subscription(drift_url), Subscription(sink_url)]
        shadow_ctx = None
        if a.shadow_model_dir is not None:
            shadow_env = {
                **base_env,
                "MONITOR_SHADOW_MODEL_DIR": str(a.shadow_model_dir),
                "MONITOR_STATE_DIR": str(state / "shadow"),
            }
            shadow_ctx = consumer("shadow", shadow_env, logs / "shadow.log")
            subs.append(Subscription(shadow_ctx.__enter__()))
        try:
            broker = LocalBroker(subs, dead_letter=state / "dead-letter.jsonl")

            async def run() -> dict[str, int]:
                try:
                    return await send_traffic(
                        leads, PayloadLogger(broker), scorer, serve_url, home.pii_salt, a.concurrency
                    )
                finally:
                    await broker.aclose()

            traffic = asyncio.run(run())
            traffic["dead_lettered"] = broker.dead_lettered
            with httpx.Client(timeout=300.0) as client:
                for url in [s.url for s in subs]:
                    client.post(f"{url}/flush").raise_for_status()
                # the consumers stop with this command: keep what Prometheus would have scraped from them
                named = zip(CONSUMERS[: len(subs)], subs, strict=True)
                scraped = {name: client.get(f"{sub.url}/metrics").text for name, sub in named}
                drift_stats = client.get(f"{drift_url}/stats").json()
                sink_stats = client.get(f"{sink_url}/stats").json()
                shadow_stats = client.get(f"{subs[2].url}/stats").json() if shadow_ctx is not None else None
        finally:
            if shadow_ctx is not None:
                shadow_ctx.__exit__(None, None, None)
    meta["seconds"] = round(time.time() - started, 2)
    report = summarize(drift_stats, sink_stats, shadow_stats, traffic, meta)
    reports = home.reports
    artifacts = reports / f"replay-{stamp}"
    artifacts.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, text in scraped.items():
        files[f"{name}_metrics"] = str(artifacts / f"{name}.prom")
        (artifacts / f"{name}.prom").write_text(text)
    files["psi_chart"] = str(
        psi_chart(
            report["features"],
            DriftThresholds().psi_categorical,
            artifacts / "psi.png",
            title=f"Feature drift: {a.src.name}",
        )
    )
    report["artifacts"] = files
    (reports / f"replay-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
