"""Prometheus metrics of the CRM front (prometheus-client, Prometheus naming conventions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STAGES = ("admit", "validate", "encode", "predict", "respond")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(float(b) for b in range(10, 101, 10))


class FrontMetrics:
    """All ``leadscore_*`` series of one front; every series carries the ``revision`` label.

    The series a canary analysis compares (requests, request latency, scores, tiers) also carry
    ``model_version``: the version that answered the request (from the predictor's V2 answer), so canary
    and stable are told apart even when the split happens behind one transformer revision. A request
    refused before scoring is counted under the version this front last loaded.
    """

    _shared: dict[tuple[int, str], FrontMetrics] = {}

    @classmethod
    def shared(cls, registry: CollectorRegistry, revision: str, component: str = "front") -> FrontMetrics:
        """One instance per registry and revision, so a model reload in the same process reuses the series."""
        key = (id(registry), revision)
        if key not in cls._shared:
            cls._shared[key] = cls(registry, revision, component)
        return cls._shared[key]

    def __init__(self, registry: CollectorRegistry, revision: str, component: str = "front") -> None:
        self.revision = revision
        self.component = component
        r = revision
        self.requests = Counter(
            "leadscore_requests_total",
            "Score-lead requests by HTTP status and the model version that answered.",
            ["revision", "model_version", "status"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "leadscore_stage_duration_seconds",
            "Latency of each stage of a score-lead request.",
            ["revision", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.request_seconds = Histogram(
            "leadscore_request_duration_seconds",
            "End-to-end latency of a score-lead request by HTTP status and model version.",
            ["revision", "model_version", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.leads = Counter("leadscore_leads_scored_total", "Leads scored.", ["revision"], registry=registry)
        self.score = Histogram(
            "leadscore_score",
            "Distribution of 0-100 scores by model version.",
            ["revision", "model_version"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.tiers = Counter(
            "leadscore_tier_total", "Leads per tier.", ["revision", "model_version", "tier"], registry=registry
        )
        self.missing = Counter(
            "leadscore_feature_missing_total", "Missing feature values.", ["revision", "feature"], registry=registry
        )
        self.unknown = Counter(
            "leadscore_feature_unknown_category_total",
            "Categorical values outside the vocabulary.",
            ["revision", "feature"],
            registry=registry,
        )
        self.rejected = Counter(
            "leadscore_field_rejections_total",
            "Field-level reasons for refused requests.",
            ["revision", "field"],
            registry=registry,
        )
        self.model_info = Gauge(
            "leadscore_model_info",
            "Model served by this revision (value 1).",
            ["revision", "model_name", "model_version", "spec", "spec_fingerprint"],
            registry=registry,
        )
        self.ready = Gauge(
            "leadscore_ready",
            "1 while this server can answer: its model is loaded (and, for a transformer, its predictor answers).",
            ["component"],
            registry=registry,
        )
        self.ready.labels(component).set(0)
        self.rate_limit_errors = Counter(
            "leadscore_rate_limit_storage_errors_total",
            "Rate-limit checks that failed open because the storage was unreachable.",
            ["revision"],
            registry=registry,
        )
        # bind the label children once: .labels() costs a dict lookup and a lock per call
        self._stage = {s: self.stage_seconds.labels(r, s) for s in STAGES}
        self._leads = self.leads.labels(r)
        self._by_status: dict[tuple[str, int], tuple[Any, Any]] = {}
        """(model version, status) -> its bound requests counter and latency histogram."""
        self._by_version: dict[str, Any] = {}
        self._by_tier: dict[tuple[str, str], Any] = {}
        self._missing: dict[str, Any] = {}
        """Feature -> its bound missing-values counter (features are few: the contract's)."""
        self._unknown: dict[str, Any] = {}
        self.model_version = "unknown"

    def set_model(self, model_name: str, model_version: str, spec: str, fingerprint: str) -> None:
        """Record which model this revision serves."""
        self.model_info.clear()
        self.model_info.labels(self.revision, model_name, model_version, spec, fingerprint).set(1)
        self.model_version = model_version
        self.set_ready(True)

    def set_ready(self, ready: bool) -> None:
        self.ready.labels(self.component).set(1.0 if ready else 0.0)

    def stage(self, name: str, seconds: float) -> None:
        self._stage[name].observe(seconds)

    def request(self, status: int, seconds: float, model_version: str | None = None) -> None:
        version = model_version or self.model_version
        bound = self._by_status.get((version, status))
        if bound is None:
            labels = (self.revision, version, str(status))
            bound = self._by_status[version, status] = (
                self.requests.labels(*labels),
                self.request_seconds.labels(*labels),
            )
        bound[0].inc()
        bound[1].observe(seconds)

    def scored(self, scores: Iterable[int], tiers: Iterable[str], model_version: str | None = None) -> None:
        version = model_version or self.model_version
        score = self._by_version.get(version)
        if score is None:
            score = self._by_version[version] = self.score.labels(self.revision, version)
        n = 0
        for s in scores:
            score.observe(s)
            n += 1
        for t in tiers:
            tier = self._by_tier.get((version, t))
            if tier is None:
                tier = self._by_tier[version, t] = self.tiers.labels(self.revision, version, t)
            tier.inc()
        self._leads.inc(n)

    def quality(self, missing: Iterable[str], unknown: Iterable[str]) -> None:
        for f in missing:
            child = self._missing.get(f)
            if child is None:
                child = self._missing[f] = self.missing.labels(self.revision, f)
            child.inc()
        for f in unknown:
            child = self._unknown.get(f)
            if child is None:
                child = self._unknown[f] = self.unknown.labels(self.revision, f)
            child.inc()

    def refused(self, fields: Iterable[str]) -> None:
        for f in fields:
            self.rejected.labels(self.revision, f).inc()
