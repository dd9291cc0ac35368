"""Client errors of the CRM front: an HTTP status plus the fields at fault and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldIssue:
    """One reason a request was refused."""

    field: str
    """Dotted path of the offending field (``0.visas_requested``), or ``body`` / a header name."""
    reason: str


@dataclass
class RequestError(Exception):
    """A request the front refuses with a 4xx; never raised for server faults."""

    status: int
    message: str
    issues: list[FieldIssue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        """The JSON error body: ``{"error", "issues": [{"field", "reason"}]}``."""
        return {"error": self.message, "issues": [{"field": i.field, "reason": i.reason} for i in self.issues]}


class PredictorUnavailable(RuntimeError):
    """The model cannot answer right now (not loaded, predictor unreachable): a 503."""
