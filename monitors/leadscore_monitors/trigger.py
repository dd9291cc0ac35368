"""The retraining trigger: drift or business signals request a retrain, deduplicated with a cooldown.

Accepts ``drift`` events (body :class:`~leadscore_core.events.DriftEvent`, only those naming drifted
features) and ``retrain.requested`` events (body :class:`~leadscore_core.events.RetrainRequest`). The
decision (accepted, or suppressed by the cooldown) is committed with the event, so an event storm or
a redelivery after a restart still means one retrain. An accepted request is then started by submitting
the ``retraining`` WorkflowTemplate to the Argo Server (the body from :mod:`leadscore_core.workflows`, the
same code path as ``leadscore retrain``), with ``reason`` and the evidence as parameters. A submission that
fails transiently is tried again on the next tick; a refusal is recorded and not retried. Without an Argo
Server (the local stack) a configured command runs instead.

Exactly one start per accepted decision, whatever fails in between:

- **Argo**: the Workflow is named from the decision's request id (``workflow_name("retraining", "<event id>")``)
  and that name is recorded before the POST. If recording the submission afterwards fails (disk full, I/O
  error), the next tick submits the same name again; Argo refuses it as AlreadyExists (409), which counts as
  submitted. A lost answer to a POST that did land ends the same way.
- **Local command**: the start is recorded (``started``) before the process is spawned, so a failed write
  never spawns it twice (at most once: a crash between the two leaves it recorded, not run, and logged).
"""

from __future__ import annotations

import json
import logging
import shlex
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore_core.events import DRIFT_TYPE, RETRAIN_TYPE, DriftEvent, RetrainRequest
from leadscore_core.workflows import (
    RETRAINING_TEMPLATE,
    SubmitError,
    post_workflow,
    retraining_request,
    workflow_name,
)
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from leadscore_monitors.cloudevent import BadEvent, LoggedEvent
from leadscore_monitors.consumer import Consumer
from leadscore_monitors.settings import TriggerSettings

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, at REAL NOT NULL,
    reason TEXT NOT NULL, detail TEXT, accepted INTEGER NOT NULL, started REAL, pid INTEGER, returncode INTEGER,
    workflow TEXT, error TEXT);
"""
NEW_COLUMNS = ("workflow TEXT", "error TEXT")
"""Added after the first release: older state files get them on start."""


class CooldownGate:
    """Accept at most one retrain per ``cooldown`` seconds; the state is the ``decisions`` table."""

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown

    def decide(self, conn: sqlite3.Connection, event_id: str, request: RetrainRequest, now: float) -> bool:
        last = conn.execute("SELECT MAX(at) FROM decisions WHERE accepted = 1").fetchone()[0]
        accepted = last is None or now - last >= self.cooldown
        conn.execute(
            "INSERT INTO decisions (event_id, at, reason, detail, accepted) VALUES (?, ?, ?, ?, ?)",
            (event_id, now, request.reason, request.detail[:500], int(accepted)),
        )
        return accepted


class TriggerConsumer(Consumer):
    """Subscribes to ``drift`` and ``retrain.requested`` events."""

    component = "retrain-trigger"
    accepted_types = frozenset({DRIFT_TYPE, RETRAIN_TYPE})

    def __init__(self, settings: TriggerSettings, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self._decided: list[tuple[str, str]] = []
        self.settings = settings
        self.gate = CooldownGate(settings.cooldown_seconds)
        self.log_dir = settings.resolved_state_dir("trigger") / "runs"
        self.c_decisions = Counter(
            "leadscore_retrain_requests",
            "Retrain requests by decision.",
            ["reason", "decision"],
            registry=self.registry,
        )
        self.c_submissions = Counter(
            "leadscore_retrain_submissions",
            "Retraining workflow submissions to the Argo Server by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)
        have = {row[1] for row in conn.execute("PRAGMA table_info(decisions)")}
        for column in NEW_COLUMNS:
            if column.split()[0] not in have:
                conn.execute(f"ALTER TABLE decisions ADD COLUMN {column}")

    def decode(self, event: LoggedEvent) -> Any:
        try:
            if event.type == DRIFT_TYPE:
                drift = DriftEvent.model_validate(event.body)
                if not drift.drifted_features and drift.score_psi is None:
                    raise BadEvent(422, "drift event names no drifted feature", "contract")
                psi = ", ".join(f"{f} PSI {drift.psi.get(f, float('nan')):.3f}" for f in drift.drifted_features)
                score = f"; score PSI {drift.score_psi:.3f}" if drift.score_psi is not None else ""
                return RetrainRequest(
                    reason="drift",
                    detail=f"{drift.model_name} v{drift.model_version}: drifted {psi}{score} "
                    f"(threshold {drift.threshold}, {drift.n_events} events up to {drift.window_end.isoformat()})",
                    requested_at=drift.window_end,
                    source_event_id=event.id,
                )
            return RetrainRequest.model_validate(event.body)
        except ValidationError as exc:
            raise BadEvent(422, f"body does not match the {event.type} schema: {exc.errors()[:3]}", "contract") from exc

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        accepted = self.gate.decide(conn, event.id, decoded, time.time())
        self._decided.append((decoded.reason, "accepted" if accepted else "suppressed"))

    def settle(self, durable: bool) -> None:
        """Decisions count in the metric only once they are durable."""
        if durable:
            for reason, outcome in self._decided:
                self.c_decisions.labels(reason, outcome).inc()
        self._decided.clear()

    def maintain(self, conn: sqlite3.Connection, now: float) -> None:
        todo = conn.execute(
            "SELECT seq, event_id, reason, detail FROM decisions WHERE accepted = 1 AND started IS NULL"
        ).fetchall()
        for seq, event_id, reason, detail in todo:
            if self.settings.argo_server:
                self._submit(conn, seq, f"{event_id}#{seq}", reason, detail)
                continue
            # intent first: a failed write here spawns nothing; once recorded, no later tick spawns it again
            conn.execute("UPDATE decisions SET started = ? WHERE seq = ?", (time.time(), seq))
            pid = self._start(seq, reason, detail)
            conn.execute("UPDATE decisions SET pid = ? WHERE seq = ?", (pid, seq))
        for seq_pid, proc in list(self._procs.items()):
            code = proc.poll()
            if code is not None:
                conn.execute("UPDATE decisions SET returncode = ? WHERE pid = ?", (code, seq_pid))
                del self._procs[seq_pid]

    def _submit(self, conn: sqlite3.Connection, seq: int, request_id: str, reason: str, detail: str) -> None:
        """Submit ``retraining`` under the request's deterministic name (recorded first); a transient failure
        leaves the decision unstarted (the next tick submits the same name again)."""
        s = self.settings
        conn.execute(
            "UPDATE decisions SET workflow = ? WHERE seq = ?", (workflow_name(RETRAINING_TEMPLATE, request_id), seq)
        )
        try:
            body = retraining_request(
                reason, detail or "", namespace=s.argo_namespace, request_id=request_id, **s.argo_parameters
            )
            created = post_workflow(
                s.argo_server,
                s.argo_namespace,
                s.token(),
                body,
                attempts=s.argo_attempts,
                timeout=s.argo_timeout_seconds,
            )
        except (SubmitError, OSError, ValueError) as exc:
            transient = isinstance(exc, SubmitError) and exc.transient
            self.c_submissions.labels("retrying" if transient else "refused").inc()
            log.error("retrain #%d not submitted (%s): %s", seq, "will retry" if transient else "refused", exc)
            if transient:
                conn.execute("UPDATE decisions SET error = ? WHERE seq = ?", (str(exc)[:500], seq))
            else:
                conn.execute(
                    "UPDATE decisions SET started = ?, returncode = -1, error = ? WHERE seq = ?",
                    (time.time(), str(exc)[:500], seq),
                )
            return
        name = str(created.get("metadata", {}).get("name", ""))
        outcome = "already_submitted" if created.get("alreadyExists") else "submitted"
        conn.execute(
            "UPDATE decisions SET started = ?, workflow = ?, error = NULL WHERE seq = ?", (time.time(), name, seq)
        )
        self.c_submissions.labels(outcome).inc()
        log.warning(
            "retrain #%d %s: workflow %s/%s (%s)", seq, outcome.replace("_", " "), s.argo_namespace, name, reason
        )

    def _start(self, seq: int, reason: str, detail: str) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = (self.log_dir / f"retrain-{seq}.log").open("ab")
        env_note = f"# {datetime.now(UTC).isoformat()} reason={reason} detail={detail}\n".encode()
        out.write(env_note)
        out.flush()
        proc = subprocess.Popen(
            shlex.split(self.settings.command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._procs[proc.pid] = proc
        if not self.settings.run_async:
            proc.wait()
        log.warning("retrain #%d started (pid %d): %s", seq, proc.pid, self.settings.command)
        return proc.pid

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        rows = conn.execute(
            "SELECT seq, event_id, at, reason, detail, accepted, started, pid, returncode, workflow, error"
            " FROM decisions ORDER BY seq"
        ).fetchall()
        keys = (
            "seq",
            "event_id",
            "at",
            "reason",
            "detail",
            "accepted",
            "started",
            "pid",
            "returncode",
            "workflow",
            "error",
        )
        decisions = [dict(zip(keys, r, strict=True)) for r in rows]
        return {
            "accepted": sum(1 for d in decisions if d["accepted"]),
            "suppressed": sum(1 for d in decisions if not d["accepted"]),
            "decisions": decisions[-50:],
            "log_dir": str(Path(self.log_dir)),
        }


def decisions_json(conn: sqlite3.Connection) -> str:
    return json.dumps([list(r) for r in conn.execute("SELECT * FROM decisions")])
