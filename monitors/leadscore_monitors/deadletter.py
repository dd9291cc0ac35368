"""Dead-letter sink of the broker: keeps every event that exhausted its retries, whatever its type.

Each event is appended (headers + raw body) to a row of its SQLite store and
acknowledged; an operator can replay them once the consumer that refused it is fixed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from leadscore_monitors.cloudevent import LoggedEvent
from leadscore_monitors.consumer import Consumer

SCHEMA = """CREATE TABLE IF NOT EXISTS dead (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, event_type TEXT,
    source TEXT, body TEXT NOT NULL);"""


class DeadLetterConsumer(Consumer):
    """Accepts any CloudEvent type."""

    component = "event-dead-letter"
    accepted_types = frozenset()
    any_type = True

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)

    def decode(self, event: LoggedEvent) -> Any:
        return json.dumps(event.body)

    def apply(self, conn: sqlite3.Connection, event: LoggedEvent, decoded: Any) -> None:
        conn.execute(
            "INSERT INTO dead (event_id, event_type, source, body) VALUES (?, ?, ?, ?)",
            (event.id, event.type, event.source, decoded),
        )

    def stats(self, conn: sqlite3.Connection) -> dict[str, Any]:
        rows = conn.execute("SELECT event_type, COUNT(*) FROM dead GROUP BY event_type").fetchall()
        return {"by_type": {t: int(n) for t, n in rows}}
