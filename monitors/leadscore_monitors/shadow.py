"""The shadow scorer: production traffic re-scored by the ``shadow`` model, off the request path.

Request events are scored with the shadow artifact as they arrive; the production answer comes from
the response event with the same ce-id. Pairs are logged durably; every ``window_size`` pairs the
agreement is computed: mean/max absolute score difference, Spearman rank correlation, top-decile
overlap and the production-vs-shadow tier confusion matrix (metrics + ``agreement`` table).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import numpy as np
from leadscore_core.artifact import LeadScorer
from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel
from scipy.stats import spearmanr

from leadscore_monitors import joiner
from leadscore_monitors.cloudevent import LoggedEvent
from leadscore_monitors.consumer import Consumer
from leadscore_monitors.payload import RequestDecoder, decode_response
from leadscore_monitors.settings import ShadowSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, row INTEGER NOT NULL,
    prod_p REAL, shadow_p REAL, prod_tier TEXT, shadow_tier TEXT, prod_version TEXT, window INTEGER);
CREATE TABLE IF NOT EXISTS agreement (window INTEGER PRIMARY KEY, at REAL, result TEXT NOT NULL);
"""


class Agreement(BaseModel):
    """Shadow-vs-production agreement over one window of pairs."""

    n: int
    mean_abs_diff: float
    """Mean |shadow - production| probability."""
    max_abs_diff: float
    spearman: float | None
    """Spearman rank correlation of the two probabilities (None when either is constant)."""
    top_decile_overlap: float
    """Share of production's top 10% leads that are also in the shadow's top 10%."""
    tier_agreement: float
    confusion: dict[str, dict[str, int]]
    """production tier -> shadow tier -> count."""


def agreement(prod: np.ndarray, shadow: np.ndarray, prod_tiers: list[str], shadow_tiers: list[str]) -> Agreement:
    """Agreement statistics of paired probabilities and tiers."""
    n = len(prod)
    diff = np.abs(shadow - prod)
    rho = None
    if n > 2 and np.ptp(prod) > 0 and np.ptp(shadow) > 0:
        rho = float(spearmanr(prod, shadow).statistic)
    k = max(1, int(np.ceil(0.1 * n)))
    top_p = set(np.argsort(-prod, kind="stable")[:k].tolist())
    top_s = set(np.argsort(-shadow, kind="stable")[:k].tolist())
    confusion: dict[str, dict[str, int]] = {}
    for a, b in zip(prod_tiers, shadow_tiers, strict=True):
        confusion.setdefault(a, {}).setdefault(b, 0)
        confusion[a][b] += 1
    same = sum(1 for a, b in zip(prod_tiers, shadow_tiers, strict=True) if a == b)
    return Agreement(
        n=n,
        mean_abs_diff=float(diff.mean()) if n else 0.0,
        max_abs_diff=float(diff.max()) if n else 0.0,
        spearman=rho,
        top_decile_overlap=len(top_p & top_s) / k,
        tier_agreement=same / n if n else 0.0,
        confusion=confusion,
    )


class ShadowConsumer(Consumer):
    """Scores request events with the shadow artifact and compares with the logged production answer."""

    component = "shadow-scorer"
    accepted_types = frozenset({REQUEST_TYPE, RESPONSE_TYPE})

    def __init__(self, settings: ShadowSettings, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.settings = settings
        self.scorer = LeadScorer(settings.shadow_model_dir).load()
        assert self.scorer.manifest is not None
        self.shadow_version = str(self.scorer.manifest.provenance.get("model_version", "unknown"))
        self.decoder = RequestDecoder(self.scorer.spec, settings.salt())
        r, v = self.registry, ["shadow_version"]
        self.h_diff = Histogram(
            "leadscore_shadow_score_abs_diff",
            "|shadow - production| probability per lead.",
            v,
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=r,
        )
        self.c_tiers = Counter(
            "leadscore_shadow_tier_pairs",
            "Leads by production tier and shadow tier.",
            [*v, "production_tier", "shadow_tier"],
            registry=r,
        )
        self.g_spearman = Gauge("leadscore_shadow_spearman", "Spearman correlation, last window.", v, registry=r)
        self.g_overlap = Gauge("leadscore_shadow_top_decile_overlap", "Top-decile overlap, last window.", v, registry=r)
        self.g_mad = Gauge("leadscore_shadow_mean_abs_diff", "Mean |shadow - production|, last window.", v, registry=r)
        self.g_tier = Gauge(
            "leadscore_shadow_tier_agreement", "Share of leads with the same tier, last window.", v, registry=r
        )

    def setup(self, conn: sqlite3.Connection) -> None:
        joiner.setup(conn)
        conn.executescript(SCHEMA)
        last = conn.execute("SELECT result FROM agreement ORDER BY window DESC LIMIT 1").fetchone()
        if last:
            self._publish(Agreement.model_validate_json(last[0]))

    def decode(self, event: LoggedEvent) -> Any:
        if event.type == REQUEST_TYPE:
            leads = self.decoder.decode(event.body, event.metadata)
            assert self.scorer.encoder is not None
            batch = self.scorer.score(self.scorer.encoder.encode_records([x.features for x in leads]))
            return [[float(p), t] for p, t in zip(batch.probability, batch.tier, strict=True)]
        preds = decode_response(event.body, self.decoder.encoder.feature_names)
        return [[p.probability, p.tier, p.model_version] for p in preds]

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        kind = "request" if event.type == REQUEST_TYPE else "response"
        pair = joiner.offer(conn, event.id, kind, time.time(), decoded)
        if pair is None:
            return
        shadow, prod = pair
        conn.executemany(
            "INSERT INTO pairs (event_id, row, prod_p, shadow_p, prod_tier, shadow_tier, prod_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(event.id, i, p[0], s[0], p[1], s[1], p[2]) for i, (s, p) in enumerate(zip(shadow, prod, strict=False))],
        )

    def maintain(self, conn: sqlite3.Connection, now: float) -> None:
        size = self.settings.window_size
        while True:
            rows = conn.execute(
                "SELECT seq, prod_p, shadow_p, prod_tier, shadow_tier FROM pairs WHERE window IS NULL ORDER BY seq "
                "LIMIT ?",
                (size,),
            ).fetchall()
            if not rows or (len(rows) < size and now != float("inf")):
                return
            prod = np.asarray([r[1] for r in rows], dtype=np.float64)
            shadow = np.asarray([r[2] for r in rows], dtype=np.float64)
            tiers_p, tiers_s = [str(r[3]) for r in rows], [str(r[4]) for r in rows]
            result = agreement(prod, shadow, tiers_p, tiers_s)
            conn.execute("BEGIN IMMEDIATE")
            window = conn.execute("SELECT COALESCE(MAX(window), 0) + 1 FROM agreement").fetchone()[0]
            conn.execute("INSERT INTO agreement VALUES (?, ?, ?)", (window, time.time(), result.model_dump_json()))
            conn.execute("UPDATE pairs SET window = ? WHERE window IS NULL AND seq <= ?", (window, rows[-1][0]))
            conn.execute("COMMIT")
            v = self.shadow_version
            for d in np.abs(shadow - prod):
                self.h_diff.labels(v).observe(float(d))
            for a, b in zip(tiers_p, tiers_s, strict=True):
                self.c_tiers.labels(v, a, b).inc()
            self._publish(result)

    def _publish(self, result: Agreement) -> None:
        v = self.shadow_version
        if result.spearman is not None:
            self.g_spearman.labels(v).set(result.spearman)
        self.g_overlap.labels(v).set(result.top_decile_overlap)
        self.g_mad.labels(v).set(result.mean_abs_diff)
        self.g_tier.labels(v).set(result.tier_agreement)

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        rows = conn.execute("SELECT window, result FROM agreement ORDER BY window").fetchall()
        return {
            "shadow_version": self.shadow_version,
            "pairs": conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0],
            "unjoined": joiner.count(conn),
            "windows": [{"window": w, **json.loads(r)} for w, r in rows],
        }
