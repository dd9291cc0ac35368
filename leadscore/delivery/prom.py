"""A bounded Prometheus HTTP API client (instant queries only)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusUnavailable(Exception):
    """Prometheus did not answer within the bounds; the interval counts as 'no data' (wait)."""


class QueryError(Exception):
    """Prometheus answered with an error (a bad query: a bug, not an outage)."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class Prometheus:
    """``GET /api/v1/query`` with a per-attempt timeout and a bounded number of attempts."""

    def __init__(self, base_url: str, timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.5) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self.retries = retries
        self.backoff_s = backoff_s

    def query(self, promql: str, at: float) -> list[Sample]:
        """The instant vector of ``promql`` evaluated at unix time ``at``."""
        params = {"query": promql, "time": f"{at:.3f}"}
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                resp = httpx.get(f"{self.base_url}/api/v1/query", params=params, timeout=self.timeout)
            except httpx.HTTPError as exc:
                last = exc
            else:
                if resp.status_code == 400 or resp.status_code == 422:
                    raise QueryError(f"{promql}: {resp.json().get('error', resp.text)[:300]}")
                if resp.status_code == 200:
                    return _vector(promql, resp.json())
                last = RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
            if attempt + 1 < self.retries:
                time.sleep(self.backoff_s * (attempt + 1))
        raise PrometheusUnavailable(f"{self.base_url}: {type(last).__name__}: {last}")

    def scalar(self, promql: str, at: float) -> float | None:
        """The single value of an aggregated query, None when the vector is empty or NaN."""
        samples = self.query(promql, at)
        if not samples:
            return None
        value = samples[0].value
        return None if value != value else value


def _vector(promql: str, body: dict[str, Any]) -> list[Sample]:
    data = body.get("data", {})
    if body.get("status") != "success" or data.get("resultType") != "vector":
        raise QueryError(f"{promql}: unexpected answer {str(body)[:200]}")
    return [Sample(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]
