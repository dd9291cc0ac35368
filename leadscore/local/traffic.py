"""The traffic side of the local canary loop: where requests go and what they are.

* :class:`LocalService` stands in for the InferenceService: it takes the canary analysis' merge patches
  (:mod:`leadscore.delivery.kube`) and answers which model version gets which share of the traffic, the
  way KServe splits between the latest and the previously rolled-out revision.
* :func:`replayed_requests` rebuilds ``/score-lead`` bodies from the logged requests (the Delta inference
  log the monitors' sink writes: cleaned feature values, the hashed lead key as the id; no PII).
* :class:`TrafficDriver` sends them at a steady rate, each request to the version the split picks.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from leadscore.delivery import kube
from leadscore.delivery.render import VERSION_LABEL
from leadscore.delivery.replay import read_logged
from training.errors import RegistryError

MIN_LOGGED = 50
"""Fewer logged leads than this is too little traffic to replay."""


class LocalService:
    """The local InferenceService: the latest revision gets ``canaryTrafficPercent``, the previous the rest."""

    def __init__(self, stable_version: int) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {"labels": {VERSION_LABEL: str(int(stable_version))}},
            "spec": {"predictor": {}},
        }
        self.latest = self.previous = int(stable_version)
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.obj)

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply a merge patch; a new model-version label rolls out a new revision (the latest)."""
        version = body.get("metadata", {}).get("labels", {}).get(VERSION_LABEL)
        with self._lock:
            if version is not None:
                self.previous, self.latest = self.latest, int(version)
            self.obj = kube.merge_patch(self.obj, body)
            return copy.deepcopy(self.obj)

    def split(self) -> dict[int, int]:
        """model version -> percent of traffic."""
        with self._lock:
            percent = int(self.obj["spec"]["predictor"].get("canaryTrafficPercent", 100))
            if self.latest == self.previous:
                return {self.latest: 100}
            return {self.latest: percent, self.previous: 100 - percent}


def replayed_requests(log_uri: str, spec: Any, leads_per_request: int) -> list[bytes]:
    """``/score-lead`` bodies (JSON lists of ``leads_per_request`` leads) of the logged requests."""
    names = spec.feature_names
    log = read_logged(log_uri, names, None, None, ("lead_key",))
    n = len(log["lead_key"])
    if n < MIN_LOGGED:
        raise RegistryError(
            f"{log_uri}: {n} logged leads, at least {MIN_LOGGED} are needed to replay "
            "(send traffic first: `leadscore monitor replay`)"
        )
    leads = []
    for i in range(n):
        lead = {name: log[name][i] for name in names}  # every feature key (null = unknown): the API requires them
        leads.append({spec.id_column: str(log["lead_key"][i]), **lead})
    step = max(1, int(leads_per_request))
    return [json.dumps(leads[i : i + step]).encode() for i in range(0, n - step + 1, step)]


@dataclass(frozen=True)
class DriveConfig:
    rps: float = 40.0
    """Requests per second, all versions together."""
    workers: int = 8
    """Concurrent senders (a slow version must not hold back the others' share)."""
    timeout_s: float = 10.0
    """Bound on one request; a timeout counts as status ``timeout``."""


def pick(i: int, split: dict[int, int], latest: int) -> int:
    """The version request ``i`` goes to: exactly ``split[latest]`` % of any 100 consecutive requests."""
    share = split.get(latest, 0)
    others = [v for v in split if v != latest]
    if not others or (i + 1) * share // 100 > i * share // 100:
        return latest
    return others[0]


class TrafficDriver:
    """Replays ``bodies`` round-robin at ``config.rps`` to ``urls[version]/score-lead`` per the split."""

    def __init__(self, bodies: list[bytes], urls: dict[int, str], service: LocalService, config: DriveConfig) -> None:
        if not bodies:
            raise ValueError("no request to replay")
        self.bodies, self.urls, self.service, self.config = bodies, urls, service, config
        self.counts: Counter[tuple[int, str]] = Counter()
        self._tickets = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        for n in range(self.config.workers):
            thread = threading.Thread(target=self._work, name=f"traffic-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.config.timeout_s + 5)

    def sent(self) -> dict[int, dict[str, int]]:
        """version -> status -> requests so far."""
        with self._lock:
            out: dict[int, dict[str, int]] = {}
            for (version, status), n in sorted(self.counts.items()):
                out.setdefault(version, {})[status] = n
            return out

    def _work(self) -> None:
        with httpx.Client(timeout=self.config.timeout_s, headers={"content-type": "application/json"}) as client:
            while not self._stop.is_set():
                with self._lock:
                    i = next(self._tickets)
                delay = self._t0 + i / self.config.rps - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                version = pick(i, self.service.split(), self.service.latest)
                status = self._send(client, version, self.bodies[i % len(self.bodies)])
                with self._lock:
                    self.counts[(version, status)] += 1

    def _send(self, client: httpx.Client, version: int, body: bytes) -> str:
        try:
            return str(client.post(f"{self.urls[version]}/score-lead", content=body).status_code)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError:
            return "error"
