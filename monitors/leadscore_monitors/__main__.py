"""``python -m leadscore_monitors <component>``: settings -> objects -> server, nothing at import time.

Components: ``drift``, ``sink``, ``shadow``, ``trigger``, ``dead-letter``, ``outcome-metrics`` (CloudEvent consumers),
``logger`` (local-only payload-logger stand-in), and the batch steps ``replay``, ``analyze``, ``outcome``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn
    from leadscore_core.logs import logging_config

    level = os.environ.get("MONITOR_LOG_LEVEL", "warning")
    # keep-alive longer than the broker's idle connections, so a reused connection is not reset under load
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=level,
        log_config=logging_config(_COMPONENT.get("name", ""), level),
        access_log=False,
        timeout_keep_alive=75,
    )


def _drift() -> None:
    from leadscore_core.settings import DriftThresholds

    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.detectors.base import build_detector
    from leadscore_monitors.drift import DriftConsumer
    from leadscore_monitors.reference import load_reference
    from leadscore_monitors.settings import DriftSettings

    s = DriftSettings()  # type: ignore[call-arg]
    detector = build_detector(s.backend, load_reference(s.model_dir), DriftThresholds())
    consumer = DriftConsumer(s, detector)
    _serve(build_app(consumer, s.resolved_state_dir("drift"), s.sqlite_synchronous, s.max_body_bytes), s.host, s.port)


def _sink() -> None:
    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.settings import SinkSettings
    from leadscore_monitors.sink import SinkConsumer

    s = SinkSettings()
    consumer = SinkConsumer(s)
    _serve(build_app(consumer, s.resolved_state_dir("sink"), s.sqlite_synchronous, s.max_body_bytes), s.host, s.port)


def _shadow() -> None:
    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.settings import ShadowSettings
    from leadscore_monitors.shadow import ShadowConsumer

    s = ShadowSettings()  # type: ignore[call-arg]
    consumer = ShadowConsumer(s)
    _serve(build_app(consumer, s.resolved_state_dir("shadow"), s.sqlite_synchronous, s.max_body_bytes), s.host, s.port)


def _trigger() -> None:
    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.settings import TriggerSettings
    from leadscore_monitors.trigger import TriggerConsumer

    s = TriggerSettings()
    consumer = TriggerConsumer(s)
    _serve(build_app(consumer, s.resolved_state_dir("trigger"), s.sqlite_synchronous, s.max_body_bytes), s.host, s.port)


def _dead_letter() -> None:
    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.deadletter import DeadLetterConsumer
    from leadscore_monitors.settings import ConsumerSettings

    s = ConsumerSettings()
    app = build_app(DeadLetterConsumer(), s.resolved_state_dir("dead-letter"), s.sqlite_synchronous, s.max_body_bytes)
    _serve(app, s.host, s.port)


def _outcome_metrics() -> None:
    from leadscore_monitors.consumer import build_app
    from leadscore_monitors.outcome_metrics import OutcomeMetricsConsumer
    from leadscore_monitors.settings import OutcomeMetricsSettings

    s = OutcomeMetricsSettings()
    consumer = OutcomeMetricsConsumer(s.zero_hold_seconds)
    state = s.resolved_state_dir("outcome-metrics")
    _serve(build_app(consumer, state, s.sqlite_synchronous, s.max_body_bytes), s.host, s.port)


def _logger(argv: list[str]) -> None:
    from leadscore_core.contract import load_spec
    from leadscore_core.settings import HomeSettings

    from leadscore_monitors.forwarder import LocalBroker, PayloadLogger, build_proxy, subscriptions_from

    p = argparse.ArgumentParser(prog="leadscore_monitors logger", description="local payload-logger stand-in")
    p.add_argument("--upstream", required=True, help="serving base URL to proxy")
    p.add_argument("--subscriber", action="append", default=[], help="consumer URL[|type,type] (repeatable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9081)
    p.add_argument("--spec", default="crm_freezone", help="contract used to redact PII from CRM bodies")
    p.add_argument("--dead-letter", default=None)
    a = p.parse_args(argv)
    from pathlib import Path

    broker = LocalBroker(subscriptions_from(a.subscriber), dead_letter=Path(a.dead_letter) if a.dead_letter else None)
    app = build_proxy(a.upstream, PayloadLogger(broker), load_spec(a.spec), HomeSettings().pii_salt)
    _serve(app, a.host, a.port)


_COMPONENT: dict[str, str] = {}


def main(argv: list[str] | None = None) -> None:
    from leadscore_core.logs import setup_logging

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit(__doc__)
    component, rest = argv[0], argv[1:]
    _COMPONENT["name"] = component
    setup_logging(component, os.environ.get("MONITOR_LOG_LEVEL", "WARNING"))
    if component == "drift":
        _drift()
    elif component == "sink":
        _sink()
    elif component == "shadow":
        _shadow()
    elif component == "trigger":
        _trigger()
    elif component == "dead-letter":
        _dead_letter()
    elif component == "outcome-metrics":
        _outcome_metrics()
    elif component == "logger":
        _logger(rest)
    elif component == "replay":
        from leadscore_monitors.replay import main as replay_main

        replay_main(rest)
    elif component == "analyze":
        from leadscore_monitors.analysis import main as analyze_main

        analyze_main(rest)
    elif component == "outcome":
        from leadscore_monitors.outcome import main as outcome_main

        outcome_main(rest)
    else:
        raise SystemExit(f"unknown component {component!r}\n{__doc__}")


if __name__ == "__main__":
    main()
