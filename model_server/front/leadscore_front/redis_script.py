"""One Redis Lua script, called over one pipelined asyncio connection (RESP2): the rate limit's only Redis use.

Why not redis-py: its asyncio client costs about 110 us of CPU per call (connection pool, command and reply
objects), as much as the rest of a ``/score-lead`` call's admission; this client writes ``EVALSHA`` on one
shared connection and matches the in-order replies to waiting futures, a few microseconds per call.

What it supports is what the rate limit needs: ``redis://`` and ``rediss://`` (TLS) URLs with an optional
``user:password@`` (``AUTH``) and ``/db`` (``SELECT``); replies of every RESP2 type; ``NOSCRIPT`` (a
restarted or flushed Redis) answered by one ``EVAL``, which loads the script again.

Failure mode: the caller bounds each call (``asyncio.timeout``). A call cancelled while waiting (a slow or
blackholed Redis) closes the connection, failing the calls pipelined behind it with :class:`ConnectionError`,
so no reply is ever matched to the wrong call; the next call connects again. Errors answered by Redis raise
:class:`RedisReplyError`.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit


class RedisReplyError(Exception):
    """An error reply (``-ERR ...``) from Redis."""


class _Incomplete(Exception):
    """The buffer ends inside a reply."""


def encode_command(*parts: str | bytes) -> bytes:
    """A RESP2 array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def parse_reply(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """One RESP2 reply at ``pos``: (value, position after it). Raises :class:`_Incomplete`."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos : pos + 1], bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == b":":
        return int(line), pos
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return RedisReplyError(line.decode(errors="replace")), pos
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return bytes(buf[pos : pos + n]), pos + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = parse_reply(buf, pos)
            items.append(item)
        return items, pos
    raise ConnectionError(f"not a RESP reply: {bytes(buf[pos - len(line) - 3 : pos])[:40]!r}")


class _Connection(asyncio.Protocol):
    """One connection; replies arrive in the order of the commands."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        try:
            while pos < len(self._buf):
                value, pos = parse_reply(self._buf, pos)
                if not self._waiting:
                    raise ConnectionError("a Redis reply nobody asked for")
                fut = self._waiting.popleft()
                if not fut.done():
                    fut.set_result(value)
        except _Incomplete:
            pass
        except (ConnectionError, ValueError) as exc:
            self._fail(ConnectionError(f"Redis protocol error: {exc}"))
            self.close()
            return
        del self._buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))

    def _fail(self, exc: Exception) -> None:
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_exception(exc)

    async def request(self, command: bytes) -> Any:
        if self.closed or self.transport is None:
            raise ConnectionError("Redis connection closed")
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        self.transport.write(command)
        try:
            return await fut
        except asyncio.CancelledError:  # the caller's timeout: the reply may still come, on no one's call
            self.close()
            raise

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RedisScript:
    """``await script(keys, args)`` runs the Lua ``source`` on the Redis at ``url`` (see the module doc)."""

    def __init__(self, url: str, source: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"not a redis:// or rediss:// URL: {parts.scheme}://{parts.hostname or ''}")
        self._host, self._port, self._tls = parts.hostname, parts.port or 6379, parts.scheme == "rediss"
        self._user = unquote(parts.username) if parts.username else ""
        self._password = unquote(parts.password) if parts.password else ""
        db = parts.path.strip("/")
        self._db = int(db) if db else 0
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()
        self._conn: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, keys: Sequence[str], args: Sequence[str]) -> Any:
        conn = self._conn
        if conn is None or conn.closed or self._loop is not asyncio.get_running_loop():
            conn = await self._connect()
        tail = (str(len(keys)), *keys, *args)
        reply = await conn.request(encode_command("EVALSHA", self._sha, *tail))
        if isinstance(reply, RedisReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await conn.request(encode_command("EVAL", self._source, *tail))
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests run several): nothing of the old one is usable
            self._conn, self._connecting, self._loop = None, asyncio.Lock(), loop
        assert self._connecting is not None
        async with self._connecting:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            _, conn = await loop.create_connection(_Connection, self._host, self._port, ssl=True if self._tls else None)
            try:
                if self._password:
                    auth = (self._user, self._password) if self._user else (self._password,)
                    await self._expect_ok(conn, encode_command("AUTH", *auth), "AUTH")
                if self._db:
                    await self._expect_ok(conn, encode_command("SELECT", str(self._db)), f"SELECT {self._db}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return conn

    @staticmethod
    async def _expect_ok(conn: _Connection, command: bytes, what: str) -> None:
        reply = await conn.request(command)
        if isinstance(reply, RedisReplyError):
            raise ConnectionError(f"Redis refused {what}: {str(reply)[:80]}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
