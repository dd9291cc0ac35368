"""RedisScript, the rate limit's pipelined Redis client: RESP parsing, and against the real local Redis
(pipelined order, NOSCRIPT, error replies, SELECT/AUTH, a timeout never pairing a reply with the wrong call)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from leadscore_front.redis_script import RedisReplyError, RedisScript, _Incomplete, encode_command, parse_reply

INCR = "return redis.call('incrby', KEYS[1], ARGV[1])"
ECHO = "return {ARGV[1], tonumber(ARGV[2]), false}"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b":42\r\n", 42),
        (b"+OK\r\n", "OK"),
        (b"$5\r\nhe\r\nl\r\n", b"he\r\nl"),
        (b"$-1\r\n", None),
        (b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n:-7\r\n$0\r\n\r\n", [1, [b"a", -7], b""]),
        (b"*0\r\n", []),
    ],
)
def test_every_split_of_a_reply_is_incomplete_until_its_last_byte(raw: bytes, value: object) -> None:
    for cut in range(len(raw)):
        with pytest.raises(_Incomplete):
            parse_reply(raw[:cut])
    assert parse_reply(raw + b":1\r\n") == (value, len(raw))  # stops at the end of the first reply


def test_error_replies_and_commands() -> None:
    err, end = parse_reply(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(err, RedisReplyError) and str(err).startswith("NOSCRIPT") and end == 30
    assert encode_command("EVALSHA", "ab", "0") == b"*3\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n"
    assert encode_command("SET", "k", "é") == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"


@pytest.mark.redis
@pytest.mark.parametrize("calls", [1, 64, 500])
def test_pipelined_calls_each_get_their_own_reply(redis_url: str, calls: int) -> None:
    script = RedisScript(redis_url, INCR)
    key = f"test:pipeline:{uuid.uuid4().hex}"

    async def run() -> list[int]:
        return list(await asyncio.gather(*(script([key], ["1"]) for _ in range(calls))))

    counts = asyncio.run(run())
    assert sorted(counts) == list(range(1, calls + 1))  # every increment answered once, to its caller
    echo = RedisScript(redis_url, ECHO)

    async def echoes() -> list[object]:
        return list(await asyncio.gather(*(echo([], [f"v{i}", str(i)]) for i in range(calls))))

    assert asyncio.run(echoes()) == [[f"v{i}".encode(), i, None] for i in range(calls)]


@pytest.mark.redis
def test_a_flushed_script_cache_is_reloaded_and_errors_raise(redis_url: str) -> None:
    import redis

    script = RedisScript(redis_url, INCR)
    key = f"test:noscript:{uuid.uuid4().hex}"
    plain = redis.Redis.from_url(redis_url)

    async def run() -> None:
        assert await script([key], ["2"]) == 2
        plain.script_flush()  # a restarted Redis: EVALSHA answers NOSCRIPT, the client EVALs once
        assert await script([key], ["3"]) == 5
        assert await script([key], ["1"]) == 6
        broken = RedisScript(redis_url, "return redis.error_reply('boom ' .. ARGV[1])")
        for arg in ("a", "b"):  # an error reply raises; the connection keeps working
            with pytest.raises(RedisReplyError, match=f"boom {arg}"):
                await broken([], [arg])

    asyncio.run(run())
    plain.delete(key)


@pytest.mark.redis
@pytest.mark.parametrize("db", [3, 7])
def test_the_url_database_is_selected(redis_url: str, db: int) -> None:
    import redis

    parts = urlsplit(redis_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
    key = f"test:db:{uuid.uuid4().hex}"
    assert asyncio.run(RedisScript(url, INCR)([key], ["4"])) == 4
    assert redis.Redis.from_url(url).get(key) == b"4"
    assert redis.Redis.from_url(urlunsplit((parts.scheme, parts.netloc, "/0", "", ""))).get(key) is None
    redis.Redis.from_url(url).delete(key)


@pytest.mark.redis
def test_a_refused_auth_fails_the_call_without_the_password(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    secret = f"pw-{uuid.uuid4().hex}"
    url = urlunsplit((parts.scheme, f"someone:{secret}@{parts.hostname}:{parts.port or 6379}", "/0", "", ""))
    with pytest.raises(ConnectionError, match="refused AUTH") as exc:
        asyncio.run(RedisScript(url, INCR)(["k"], ["1"]))
    assert secret not in str(exc.value)


@pytest.mark.redis
def test_a_timed_out_call_never_gets_another_calls_reply(fault_server, redis_url: str) -> None:
    """The first call times out (the proxy holds answers 0.4 s); its late reply must not answer the second."""
    parts = urlsplit(redis_url)
    slow = fault_server("slow", upstream=(parts.hostname or "127.0.0.1", parts.port or 6379), delay=0.4)
    script = RedisScript(f"redis://127.0.0.1:{slow.port}/0", ECHO)

    async def run() -> list[object]:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.15):
                await script([], ["first", "1"])
        async with asyncio.timeout(5):
            return list(await script([], ["second", "2"]))

    assert asyncio.run(run()) == [b"second", 2, None]


def test_an_unreachable_redis_is_a_connection_error() -> None:
    with pytest.raises(OSError):
        asyncio.run(RedisScript("redis://127.0.0.1:1/0", INCR)(["k"], ["1"]))
    with pytest.raises(ValueError, match="redis://"):
        RedisScript("memcached://127.0.0.1:11211", INCR)
