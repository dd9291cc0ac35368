"""Prometheus gauges of the verdict, the reason mix and the bias figures of the last judged window.

Names begin ``leadscore_drift_`` (verdict, reasons) and ``leadscore_bias_`` (parity); label values are
bounded by the contract (features, categories, the sensitive attributes' groups). Gauges whose label
set changes from window to window (new values, bias groups) are cleared before each window is
published, so a group absent from the last window does not keep a stale figure.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from leadscore_monitors.detectors.results import DriftResult

V, F = "model_version", "feature"
BIAS = [V, "attribute", "group"]


class VerdictGauges:
    """The verdict's gauges in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def g(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.verdict = g("leadscore_drift_verdict", "1 when the last window drifted (drives retraining).", [V])
        self.p_adj = g("leadscore_drift_feature_p_adjusted", "Corrected p-value of the feature's test.", [V, F])
        self.floor = g("leadscore_drift_feature_psi_threshold", "PSI floor applied to the feature.", [V, F])
        self.seasonal = g(
            "leadscore_drift_feature_seasonal_drift", "1: a calendar/rotating feature moved (no retrain).", [V, F]
        )
        self.new = g(
            "leadscore_drift_new_value",
            "1: a value the reference never saw holds a share of the window.",
            [V, F, "value"],
        )
        self.score = g("leadscore_drift_score_drifted", "1 when the score distribution drifted.", [V])
        self.reason_share = g("leadscore_drift_reason_share", "Share of leads whose top reason is the feature.", [V, F])
        self.reason_ref = g(
            "leadscore_drift_reason_reference_share",
            "Reference share of leads whose top reason is the feature.",
            [V, F],
        )
        self.reason_psi = g("leadscore_drift_reason_psi", "PSI of the top-reason mix vs the reference.", [V])
        self.reason_drifted = g("leadscore_drift_reason_drifted", "1 when the top-reason mix drifted.", [V])
        self.ratio = g("leadscore_bias_tier_a_ratio", "Tier-A rate of the group / of the others (window).", BIAS)
        self.ratio_ref = g("leadscore_bias_reference_tier_a_ratio", "Same ratio in the reference sample.", BIAS)
        self.ratio_change = g("leadscore_bias_tier_a_ratio_change", "Window ratio / reference ratio.", BIAS)
        self.gap = g("leadscore_bias_mean_score_gap", "Mean probability of the group minus the others'.", BIAS)
        self.gap_ref = g("leadscore_bias_reference_mean_score_gap", "Same gap in the reference sample.", BIAS)
        self.gap_change = g("leadscore_bias_mean_score_gap_change", "Window gap minus reference gap.", BIAS)
        self.group_n = g("leadscore_bias_group_leads", "Scored leads of the group in the window.", BIAS)
        self.flagged = g("leadscore_bias_drifted", "1 when the group's parity moved significantly.", BIAS)

    def publish(self, v: str, result: DriftResult) -> None:
        self.verdict.labels(v).set(1.0 if result.is_drift else 0.0)
        self.score.labels(v).set(1.0 if result.score_drift else 0.0)
        self.new.clear()
        for name, fd in result.features.items():
            if fd.p_adjusted is not None:
                self.p_adj.labels(v, name).set(fd.p_adjusted)
            if fd.threshold is not None:
                self.floor.labels(v, name).set(fd.threshold)
            self.seasonal.labels(v, name).set(1.0 if name in result.seasonal_drift else 0.0)
        for name, values in result.new_values.items():
            for value in values:
                self.new.labels(v, name, value).set(1.0)
        if result.reasons is not None:
            self._reasons(v, result)
        self._bias(v, result)

    def _reasons(self, v: str, result: DriftResult) -> None:
        mix = result.reasons
        assert mix is not None
        self.reason_share.clear()
        self.reason_ref.clear()
        for name in sorted(set(mix.shares) | set(mix.reference)):
            self.reason_share.labels(v, name).set(mix.shares.get(name, 0.0))
            self.reason_ref.labels(v, name).set(mix.reference.get(name, 0.0))
        self.reason_psi.labels(v).set(mix.psi)
        self.reason_drifted.labels(v).set(1.0 if result.reason_drift else 0.0)

    def _bias(self, v: str, result: DriftResult) -> None:
        for gauge in (self.ratio, self.ratio_ref, self.ratio_change, self.gap, self.gap_ref, self.gap_change):
            gauge.clear()
        self.group_n.clear()
        self.flagged.clear()
        for b in result.bias:
            labels = (v, b.attribute, b.group)
            self.group_n.labels(*labels).set(b.n)
            self.gap.labels(*labels).set(b.mean_score_gap)
            self.flagged.labels(*labels).set(1.0 if b.flagged else 0.0)
            for gauge, value in (
                (self.ratio, b.tier_a_ratio),
                (self.ratio_ref, b.reference_tier_a_ratio),
                (self.ratio_change, b.ratio_change),
                (self.gap_ref, b.reference_mean_score_gap),
                (self.gap_change, b.gap_change),
            ):
                if value is not None:
                    gauge.labels(*labels).set(value)
