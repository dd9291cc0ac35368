"""Durable consumer state: SQLite (WAL) with group commit, dedupe by ce-id and exact event counters.

Knative delivers at least once. An event is acknowledged only after the transaction that records it
(dedupe row + the consumer's own rows + counters) is committed; events arriving while a commit runs
are committed together in the next one, so durability costs one fsync per batch, not per event.
All database work runs on one writer thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

COUNTERS = ("received", "recorded", "duplicated", "rejected")
Outcome = Literal["recorded", "duplicate", "rejected", "error"]


@dataclass
class Item:
    """One delivery waiting for the next commit."""

    event_id: str | None
    event_type: str | None
    payload: Any
    reject_kind: str | None = None


def rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already (it does on a full disk or an I/O error).

    Never raises: the error that made us roll back is the one the caller must see and log, not a
    "cannot rollback - no transaction is active" that would replace it.
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        log.error("rollback failed too (the original error follows): %s", exc)


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a SQLite database in WAL mode with autocommit off (explicit BEGIN/COMMIT)."""
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class EventStore:
    """The write-ahead store of one consumer.

    Args:
        path: SQLite file.
        apply: records one accepted, not-yet-seen event inside the open transaction.
        setup: creates the consumer's own tables.
        maintain: runs after every commit and on every tick (window closing, flushing) in the writer
            thread; it manages its own transactions.
        synchronous: SQLite ``synchronous`` pragma.
    """

    def __init__(
        self,
        path: Path,
        apply: Callable[[sqlite3.Connection, Item], None],
        setup: Callable[[sqlite3.Connection], None] | None = None,
        maintain: Callable[[sqlite3.Connection, float], None] | None = None,
        synchronous: str = "FULL",
        settle: Callable[[bool], None] | None = None,
        on_write: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.path = path
        self._apply = apply
        self._maintain = maintain
        self._settle = settle
        """Told after each group commit whether it is durable (True) or was rolled back (False), on the
        writer thread, before ``maintain``: in-memory state staged by ``apply`` changes only then."""
        self._on_write = on_write
        """Told the outcome of every write (group commit or maintenance): drives health and error metrics."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.conn = connect(path, synchronous)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS seen (event_id TEXT NOT NULL, event_type TEXT NOT NULL, "
            "recorded_at REAL NOT NULL, PRIMARY KEY (event_id, event_type)) WITHOUT ROWID"
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS rejections (kind TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        for name in COUNTERS:
            self.conn.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (name,))
        if setup is not None:
            setup(self.conn)
        self._pending: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._draining = False

    # -- async API (event loop) -------------------------------------------------------------
    async def submit(self, item: Item) -> Outcome:
        """Queue ``item`` for the next group commit and wait until it is durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((item, fut))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await fut

    async def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(conn)`` on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self.conn)

    async def tick(self) -> None:
        """Give time-based maintenance (time-closed windows, flush deadlines) a turn."""
        if self._maintain is not None:
            await self.run(lambda conn: self.maintain(time.time()))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await loop.run_in_executor(self._pool, self._commit, [i for i, _ in batch])
                except Exception as exc:  # the whole batch failed to commit: nothing was acknowledged
                    log.error("commit of %d events failed: %s: %s", len(batch), type(exc).__name__, exc)
                    outcomes = ["error"] * len(batch)
                for (_, fut), outcome in zip(batch, outcomes, strict=True):
                    if not fut.done():
                        fut.set_result(outcome)
        finally:
            self._draining = False

    # -- writer thread --------------------------------------------------------------------
    def _commit(self, items: list[Item]) -> list[Outcome]:
        conn = self.conn
        counts = dict.fromkeys(COUNTERS, 0)
        rejected: dict[str, int] = {}
        outcomes: list[Outcome] = []
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                counts["received"] += 1
                if item.reject_kind is not None:
                    counts["rejected"] += 1
                    rejected[item.reject_kind] = rejected.get(item.reject_kind, 0) + 1
                    outcomes.append("rejected")
                    continue
                conn.execute("SAVEPOINT ev")
                try:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (item.event_id, item.event_type, now)
                    )
                    if cur.rowcount == 0:
                        counts["duplicated"] += 1
                        outcomes.append("duplicate")
                    else:
                        self._apply(conn, item)
                        counts["recorded"] += 1
                        outcomes.append("recorded")
                    conn.execute("RELEASE ev")
                except Exception:
                    log.exception("recording event %s failed", item.event_id)
                    conn.execute("ROLLBACK TO ev")
                    conn.execute("RELEASE ev")
                    counts["received"] -= 1  # not acknowledged: the redelivery will count it
                    outcomes.append("error")
            for name, value in counts.items():
                if value:
                    conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (value, name))
            for kind, value in rejected.items():
                conn.execute(
                    "INSERT INTO rejections VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET value = value + ?",
                    (kind, value, value),
                )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            self._settled(False)
            raise
        self._settled(True)
        self.maintain(time.time())
        return outcomes

    def _settled(self, durable: bool) -> None:
        if self._settle is not None:
            self._settle(durable)
        if self._on_write is not None:
            self._on_write("commit", durable)

    def maintain(self, now: float) -> None:
        """Run the consumer's maintenance (writer thread); a failure is logged and reported, never raised."""
        if self._maintain is None:
            return
        try:
            self._maintain(self.conn, now)
        except Exception as exc:
            log.error("maintenance failed (nothing from it was counted): %s: %s", type(exc).__name__, exc)
            if self._on_write is not None:
                self._on_write("maintain", False)
            return
        if self._on_write is not None:
            self._on_write("maintain", True)

    def counters(self) -> dict[str, int]:
        """Exact counts since the state directory was created (survive restarts)."""
        rows = self.conn.execute("SELECT name, value FROM counters").fetchall()
        return {name: int(value) for name, value in rows}

    def rejections(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.conn.execute("SELECT kind, value FROM rejections").fetchall()}

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.conn.close()
