"""Per-client rate limit with `limits` (Redis when replicas share the budget, memory locally).

Failure mode (docs/operations.md): the storage is consulted with a bounded wait (socket and connect
timeouts on the Redis client, and ``asyncio.wait_for`` around the whole check, ``rate_limit_timeout_seconds``).
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
from leadscore_front.settings import FrontSettings

log = logging.getLogger(__name__)
_warn = RateLimitedLog(log, interval=10.0)


class RateLimiter:
    """Fixed-window limit per client; fails open (and counts it) if the storage is unreachable."""

    def __init__(self, settings: FrontSettings, on_storage_error: Callable[[], object] | None = None) -> None:
        self._items: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limit.strip() else []
        self._limiter: FixedWindowRateLimiter | None = None
        self._timeout = settings.rate_limit_timeout_seconds
        if self._items:
            uri = settings.rate_limit_storage
            options: dict[str, str | float] = {}
            if uri.startswith(("redis://", "rediss://")):
                options["implementation"] = "redispy"  # redis-py's asyncio client (limits[redis])
                # a blackholed Redis must not hold a request: bounded connect and read
                options["socket_timeout"] = self._timeout
                options["socket_connect_timeout"] = self._timeout
            if not uri.startswith("async+"):
                uri = "async+" + uri
            storage = storage_from_string(uri, **options)
            if not isinstance(storage, Storage):
                raise ValueError(f"rate_limit_storage {settings.rate_limit_storage!r} has no asyncio storage")
            self._limiter = FixedWindowRateLimiter(storage)
        self._on_error = on_storage_error

    @property
    def enabled(self) -> bool:
        return self._limiter is not None

    async def check(self, client: str) -> None:
        """Count one request of ``client``.

        Raises:
            RequestError: 429 with ``Retry-After`` when a limit is exhausted.
        """
        if self._limiter is None:
            return
        for item in self._items:
            try:
                allowed = await asyncio.wait_for(self._limiter.hit(item, "score-lead", client), self._timeout)
            except Exception as exc:  # storage down, blackholed or slow: availability over strictness
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} after {self._timeout}s"
                _warn.warning("ratelimit", "rate-limit storage error, allowing request: %s", reason)
                if self._on_error is not None:
                    self._on_error()
                return
            if not allowed:
                reset, _ = await self._window(item, client)
                retry = max(1, math.ceil(reset - time.time()))
                raise RequestError(
                    429,
                    "rate limit exceeded",
                    [FieldIssue("client", f"{client!r} exceeded {item}")],
                    {"retry-after": str(retry)},
                )

    async def _window(self, item: RateLimitItem, client: str) -> tuple[float, int]:
        assert self._limiter is not None
        try:
            stats = await asyncio.wait_for(self._limiter.get_window_stats(item, "score-lead", client), self._timeout)
            return stats.reset_time, stats.remaining
        except Exception:
            return time.time() + item.get_expiry(), 0
