"""Joining a request event with its response by ce-id, durably (both halves wait in SQLite)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (event_id TEXT NOT NULL, kind TEXT NOT NULL, ts REAL NOT NULL,
    payload TEXT NOT NULL, PRIMARY KEY (event_id, kind)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_ts ON pending (ts);
"""


def setup(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def offer(conn: sqlite3.Connection, event_id: str, kind: str, ts: float, payload: Any) -> tuple[Any, Any] | None:
    """Store one half; when the other half is already there, remove both and return (request, response)."""
    other = "response" if kind == "request" else "request"
    row = conn.execute("SELECT payload FROM pending WHERE event_id = ? AND kind = ?", (event_id, other)).fetchone()
    if row is None:
        conn.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)", (event_id, kind, ts, json.dumps(payload)))
        return None
    conn.execute("DELETE FROM pending WHERE event_id = ? AND kind = ?", (event_id, other))
    theirs = json.loads(row[0])
    return (payload, theirs) if kind == "request" else (theirs, payload)


def expired(conn: sqlite3.Connection, before: float) -> list[tuple[str, str, Any]]:
    """Remove and return halves older than ``before`` whose partner never came."""
    rows = conn.execute("SELECT event_id, kind, payload FROM pending WHERE ts < ?", (before,)).fetchall()
    if rows:
        conn.execute("DELETE FROM pending WHERE ts < ?", (before,))
    return [(e, k, json.loads(p)) for e, k, p in rows]


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
