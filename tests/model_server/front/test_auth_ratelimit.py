"""Authenticator (API key, JWT via PyJWT) and RateLimiter (memory and the real local Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest

from leadscore_front.auth import Authenticator
from leadscore_front.errors import RequestError
from leadscore_front.ratelimit import RateLimiter
from leadscore_front.settings import FrontSettings

KEY = "k" * 40


def test_off_by_default_uses_client_header_or_peer() -> None:
    auth = Authenticator(FrontSettings())
    assert auth.client({"x-client-id": "crm"}, "1.2.3.4") == "crm"
    assert auth.client({}, "1.2.3.4") == "1.2.3.4"


def test_api_key() -> None:
    auth = Authenticator(FrontSettings(auth_mode="api_key", api_keys={"abc": "crm"}))
    assert auth.client({"x-api-key": "abc"}, "") == "crm"
    for headers in ({}, {"x-api-key": "abd"}):
        with pytest.raises(RequestError) as exc:
            auth.client(headers, "")
        assert exc.value.status == 401 and "www-authenticate" in exc.value.headers


def test_jwt() -> None:
    auth = Authenticator(FrontSettings(auth_mode="jwt", jwt_key=KEY, jwt_audience="crm", jwt_issuer="idp"))
    claims = {"sub": "crm-eu", "aud": "crm", "iss": "idp", "exp": int(time.time()) + 60}
    assert auth.client({"authorization": "Bearer " + jwt.encode(claims, KEY, "HS256")}, "") == "crm-eu"
    bad = [
        jwt.encode({**claims, "exp": int(time.time()) - 5}, KEY, "HS256"),
        jwt.encode({**claims, "iss": "evil"}, KEY, "HS256"),
        jwt.encode(claims, "z" * 40, "HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "sub"}, KEY, "HS256"),
    ]
    for token in bad:
        with pytest.raises(RequestError) as exc:
            auth.client({"authorization": f"Bearer {token}"}, "")
        assert exc.value.issues[0].field == "authorization"


@pytest.mark.parametrize("ttl", [1, 2])
def test_a_remembered_jwt_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch, ttl: int) -> None:
    """Verified tokens are remembered (no PyJWT decode per call) but ``exp`` is re-checked on every call."""
    from leadscore_front import auth as auth_module

    auth = Authenticator(FrontSettings(auth_mode="jwt", jwt_key=KEY, jwt_audience="crm"))
    exp = int(time.time()) + ttl
    token = jwt.encode({"sub": f"crm-{ttl}", "aud": "crm", "exp": exp}, KEY, "HS256")
    decodes: list[str] = []
    real_decode = jwt.decode
    monkeypatch.setattr(auth_module.jwt, "decode", lambda *a, **k: decodes.append("x") or real_decode(*a, **k))
    for _ in range(5):
        assert auth.client({"authorization": f"Bearer {token}"}, "") == f"crm-{ttl}"
    assert len(decodes) == 1  # verified once, remembered after
    time.sleep(max(0.0, exp - time.time()) + 0.05)  # PyJWT reads the clock its own way: really wait
    with pytest.raises(RequestError) as exc:
        auth.client({"authorization": f"Bearer {token}"}, "")
    assert exc.value.status == 401 and "expired" in exc.value.issues[0].reason.lower()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")  # same claims, bad signature
    with pytest.raises(RequestError):
        auth.client({"authorization": f"Bearer {forged}"}, "")


def test_misconfigured_auth_fails_fast() -> None:
    with pytest.raises(ValueError):
        Authenticator(FrontSettings(auth_mode="jwt"))
    with pytest.raises(ValueError):
        Authenticator(FrontSettings(auth_mode="api_key"))


def test_rate_limit_per_client_in_memory() -> None:
    check_limit(RateLimiter(FrontSettings(rate_limit="3/minute", rate_limit_storage="memory://")))


@pytest.mark.redis
def test_rate_limit_per_client_in_redis(redis_url: str) -> None:
    check_limit(RateLimiter(FrontSettings(rate_limit="3/minute", rate_limit_storage=redis_url)))


@pytest.mark.parametrize("storage", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
@pytest.mark.parametrize(("limits", "allowed", "exhausted"), [("5/second;3/minute", 3, 1), ("2/minute;9/hour", 2, 0)])
def test_several_limits_stop_at_the_first_exhausted(
    request: pytest.FixtureRequest, storage: str, limits: str, allowed: int, exhausted: int
) -> None:
    """Every limit of the setting counts each call (one round trip with Redis); the 429 names the exhausted
    one, and its Retry-After is within that window."""
    uri = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    limiter = RateLimiter(FrontSettings(rate_limit=limits, rate_limit_storage=uri))
    client = f"multi-{uuid.uuid4().hex}"
    window = {"second": 1, "minute": 60, "hour": 3600}[limits.split(";")[exhausted].split("/")[1]]

    async def run() -> None:
        for _ in range(allowed):
            await limiter.check(client)
        for _ in range(2):
            with pytest.raises(RequestError) as exc:
                await limiter.check(client)
            assert exc.value.status == 429
            assert limits.split(";")[exhausted].split("/")[0] in exc.value.issues[0].reason
            assert 1 <= int(exc.value.headers["retry-after"]) <= window

    asyncio.run(run())


def check_limit(limiter: RateLimiter) -> None:
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"

    async def run() -> None:
        for _ in range(3):
            await limiter.check(a)
        with pytest.raises(RequestError) as exc:
            await limiter.check(a)
        assert exc.value.status == 429 and int(exc.value.headers["retry-after"]) >= 1
        await limiter.check(b)  # another client has its own budget

    asyncio.run(run())


def test_unreachable_storage_fails_open_and_counts() -> None:
    errors: list[int] = []
    limiter = RateLimiter(
        FrontSettings(rate_limit="1/minute", rate_limit_storage="redis://127.0.0.1:1/0"),
        on_storage_error=lambda: errors.append(1),
    )
    asyncio.run(limiter.check("x"))
    assert errors == [1]


def _fails_open_within(limiter: RateLimiter, bound: float) -> float:
    async def run() -> float:
        t = time.monotonic()
        await limiter.check(f"c-{uuid.uuid4().hex}")  # no 429, no exception: the request is allowed
        return time.monotonic() - t

    return asyncio.run(run())


@pytest.mark.parametrize("timeout", [0.2, 0.5])
def test_blackholed_redis_fails_open_within_the_timeout(fault_server, timeout: float) -> None:
    """A Redis that accepts and never answers (the 10-minute stall of issue 12) costs one timeout."""
    hole = fault_server("blackhole")
    errors: list[int] = []
    settings = FrontSettings(
        rate_limit="5/minute",
        rate_limit_storage=f"redis://127.0.0.1:{hole.port}/0",
        rate_limit_timeout_seconds=timeout,
    )
    limiter = RateLimiter(settings, on_storage_error=lambda: errors.append(1))
    for _ in range(2):
        took = _fails_open_within(limiter, timeout)
        assert timeout * 0.8 <= took < timeout + 0.5, took
    assert errors == [1, 1]


@pytest.mark.redis
def test_slow_redis_fails_open_and_a_fast_one_limits(fault_server, redis_url: str) -> None:
    """Answers slower than the timeout fail open; the same Redis without the delay enforces the limit."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    slow = fault_server("slow", upstream=(parts.hostname or "127.0.0.1", parts.port or 6379), delay=0.6)
    errors: list[int] = []
    settings = FrontSettings(
        rate_limit="1/minute", rate_limit_storage=f"redis://127.0.0.1:{slow.port}/0", rate_limit_timeout_seconds=0.2
    )
    limiter = RateLimiter(settings, on_storage_error=lambda: errors.append(1))
    client = f"slow-{uuid.uuid4().hex}"

    async def run() -> None:
        for _ in range(3):  # over the 1/minute budget, yet allowed: the storage did not answer in time
            t = time.monotonic()
            await limiter.check(client)
            assert time.monotonic() - t < 0.7

    asyncio.run(run())
    assert len(errors) == 3
    check_limit(RateLimiter(FrontSettings(rate_limit="3/minute", rate_limit_storage=redis_url)))


def test_storage_errors_are_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    from leadscore_front import ratelimit

    ratelimit._warn._last.clear()  # a fresh 10 s interval
    limiter = RateLimiter(FrontSettings(rate_limit="1/minute", rate_limit_storage="redis://127.0.0.1:1/0"))
    with caplog.at_level("WARNING", logger="leadscore_front.ratelimit"):
        for _ in range(5):
            asyncio.run(limiter.check("x"))
    lines = [r for r in caplog.records if "rate-limit storage error" in r.getMessage()]
    assert len(lines) == 1  # one line per 10 s, not one per failed request


@pytest.mark.redis
@pytest.mark.parametrize("earlier", [1, 2])
def test_the_redis_budget_is_shared_with_limits_own_keys(redis_url: str, earlier: int) -> None:
    """A replica still counting with `limits` (one call per window) and this one share one budget."""
    from limits import parse
    from limits.aio.strategies import FixedWindowRateLimiter
    from limits.storage import storage_from_string

    client = f"shared-{uuid.uuid4().hex}"
    item = parse("3/minute")

    async def run() -> None:
        storage = storage_from_string("async+" + redis_url, implementation="redispy")
        old = FixedWindowRateLimiter(storage)  # type: ignore[arg-type]
        for _ in range(earlier):
            assert await old.hit(item, "score-lead", client)
        limiter = RateLimiter(FrontSettings(rate_limit="3/minute", rate_limit_storage=redis_url))
        for _ in range(3 - earlier):
            await limiter.check(client)
        with pytest.raises(RequestError):
            await limiter.check(client)
        assert not await old.hit(item, "score-lead", client)  # and the old code sees this one's hits

    asyncio.run(run())
