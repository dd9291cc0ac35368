"""Per-client rate limit with `limits` (Redis when replicas share the budget, memory locally)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from leadscore_front.errors import FieldIssue, RequestError
from leadscore_front.settings import FrontSettings

log = logging.getLogger(__name__)


class RateLimiter:
    """Fixed-window limit per client; fails open (and counts it) if the storage is unreachable."""

    def __init__(self, settings: FrontSettings, on_storage_error: Callable[[], object] | None = None) -> None:
        self._items: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limit.strip() else []
        self._limiter: FixedWindowRateLimiter | None = None
        if self._items:
            uri = settings.rate_limit_storage
            options: dict[str, str] = {}
            if uri.startswith(("redis://", "rediss://")):
                options["implementation"] = "redispy"  # redis-py's asyncio client (limits[redis])
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
                allowed = await self._limiter.hit(item, "score-lead", client)
            except Exception as exc:  # storage down: availability over strictness
                log.warning("rate-limit storage error, allowing request: %s", exc)
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
            stats = await self._limiter.get_window_stats(item, "score-lead", client)
            return stats.reset_time, stats.remaining
        except Exception:
            return time.time() + item.get_expiry(), 0
