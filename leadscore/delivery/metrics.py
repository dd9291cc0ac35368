"""Metrics of the analysis process, served on its own port (no Pushgateway).

``leadscore_canary_rollbacks_total{phase}`` starts at 0 for both phases when the process starts, so an
``increase(...) > 0`` alert sees the step from 0 to 1; after a rollback the process keeps serving for a
linger period (``--linger``, longer than two scrape intervals) before it exits.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

PHASES = ("canary", "watch")


class AnalysisMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rollbacks = Counter(
            "leadscore_canary_rollbacks_total",
            "Automatic rollbacks decided by the canary analysis (phase: canary steps or the post-promotion watch).",
            ["phase"],
            registry=self.registry,
        )
        self.traffic = Gauge(
            "leadscore_canary_traffic_percent",
            "Traffic percent the analysis last gave the candidate.",
            ["model_version"],
            registry=self.registry,
        )
        self.evaluations = Counter(
            "leadscore_canary_evaluations_total",
            "Interval judgements by verdict (pass, fail, wait).",
            ["verdict"],
            registry=self.registry,
        )
        for phase in PHASES:
            self.rollbacks.labels(phase)
        for verdict in ("pass", "fail", "wait"):
            self.evaluations.labels(verdict)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
