"""Per-client rate limit with `limits` (Redis when replicas share the budget, memory locally).

With Redis, every limit of a request (e.g. ``200/second;6000/minute``) is counted in **one** round trip: a
Lua script does what `limits`' fixed window does per item (``INCRBY`` the item's key, ``EXPIRE`` it on the
window's first hit, allowed while the count is <= the amount), item after item, stopping at the first one
exhausted, and returns that item and the seconds left in its window. Same keys (`limits`' own, prefixed
``LIMITS:``), so replicas running either code share one budget. The script is called with
:class:`~leadscore_front.redis_script.RedisScript` (one pipelined connection): one round trip instead of
two, and none of the per-call layers of `limits` and redis-py, which were most of a request's admission CPU.

Failure mode (docs/operations.md): the storage is consulted with a bounded wait (``asyncio.timeout`` around
the whole check, connecting included: ``rate_limit_timeout_seconds``).
A storage that is down, blackholed or slow fails OPEN: the request is served, the error counted in
``leadscore_rate_limit_storage_errors_total`` and logged at most once per 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from leadscore_core.logs import RateLimitedLog
from leadscore_front.errors import FieldIssue, RequestError
from leadscore_front.redis_script import RedisScript
from leadscore_front.settings import FrontSettings

log = logging.getLogger(__name__)
_warn = RateLimitedLog(log, interval=10.0)


FIXED_WINDOWS = """
for i, key in ipairs(KEYS) do
  local current = redis.call('incrby', key, 1)
  if current == 1 then
    redis.call('expire', key, ARGV[2 * i - 1])
  end
  if current > tonumber(ARGV[2 * i]) then
    return {i, redis.call('ttl', key)}
  end
end
return {0, 0}
"""
"""One hit on each fixed window (KEYS; ARGV: expiry, amount per key), in order; returns the 1-based index of
the first exhausted window and its remaining seconds, or ``{0, 0}``."""
REDIS_PREFIX = "LIMITS"
"""`limits`' key prefix for its Redis storage."""


class RateLimiter:
    """Fixed-window limit per client; fails open (and counts it) if the storage is unreachable."""

    def __init__(self, settings: FrontSettings, on_storage_error: Callable[[], object] | None = None) -> None:
        self._items: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limit.strip() else []
        self._limiter: FixedWindowRateLimiter | None = None
        self._redis: RedisScript | None = None
        self._timeout = settings.rate_limit_timeout_seconds
        if self._items:
            uri = settings.rate_limit_storage.removeprefix("async+")
            if uri.startswith(("redis://", "rediss://")):
                self._redis = RedisScript(uri, FIXED_WINDOWS)
                self._args = [str(v) for item in self._items for v in (item.get_expiry(), item.amount)]
            else:
                storage = storage_from_string("async+" + uri)
                if not isinstance(storage, Storage):
                    raise ValueError(f"rate_limit_storage {settings.rate_limit_storage!r} has no asyncio storage")
                self._limiter = FixedWindowRateLimiter(storage)
        self._on_error = on_storage_error

    @property
    def enabled(self) -> bool:
        return self._limiter is not None or self._redis is not None

    async def check(self, client: str) -> None:
        """Count one request of ``client``.

        Raises:
            RequestError: 429 with ``Retry-After`` when a limit is exhausted.
        """
        if self._redis is not None:
            await self._check_redis(self._redis, client)
            return
        if self._limiter is None:
            return
        for item in self._items:
            try:
                async with asyncio.timeout(self._timeout):
                    allowed = await self._limiter.hit(item, "score-lead", client)
            except Exception as exc:  # storage down, blackholed or slow: availability over strictness
                self._storage_error(exc)
                return
            if not allowed:
                reset, _ = await self._window(item, client)
                raise self._exceeded(client, item, reset - time.time())

    async def _check_redis(self, redis: RedisScript, client: str) -> None:
        keys = [f"{REDIS_PREFIX}:{item.key_for('score-lead', client)}" for item in self._items]
        try:
            async with asyncio.timeout(self._timeout):
                index, ttl = await redis(keys, self._args)
        except Exception as exc:  # storage down, blackholed or slow: availability over strictness
            self._storage_error(exc)
            return
        if index:
            item = self._items[int(index) - 1]
            raise self._exceeded(client, item, int(ttl) if int(ttl) > 0 else item.get_expiry())

    @staticmethod
    def _exceeded(client: str, item: RateLimitItem, seconds_left: float) -> RequestError:
        return RequestError(
            429,
            "rate limit exceeded",
            [FieldIssue("client", f"{client!r} exceeded {item}")],
            {"retry-after": str(max(1, math.ceil(seconds_left)))},
        )

    def _storage_error(self, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} after {self._timeout}s"
        _warn.warning("ratelimit", "rate-limit storage error, allowing request: %s", reason)
        if self._on_error is not None:
            self._on_error()

    async def _window(self, item: RateLimitItem, client: str) -> tuple[float, int]:
        assert self._limiter is not None
        try:
            async with asyncio.timeout(self._timeout):
                stats = await self._limiter.get_window_stats(item, "score-lead", client)
            return stats.reset_time, stats.remaining
        except Exception:
            return time.time() + item.get_expiry(), 0
