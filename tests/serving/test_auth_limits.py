"""API-key and JWT auth, and the per-client rate limit kept in the real local Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time

import httpx
import pytest

from leadscore_core.testkit import sample_lead

JWT_SECRET = "jwt-test-secret-of-sufficient-length-32b"


def _jwt(claims: dict[str, object], secret: str = JWT_SECRET) -> str:
    """An HS256 token built by hand (the root env does not ship PyJWT; the transformer verifies with it)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


@pytest.mark.redis
def test_api_key_is_required(secured: tuple[str, object]) -> None:
    url = f"{secured[0]}/score-lead"
    r = httpx.post(url, json=sample_lead())
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("ApiKey")
    assert r.json()["issues"][0]["field"] == "x-api-key"
    assert httpx.post(url, json=sample_lead(), headers={"X-API-Key": "nope"}).status_code == 401
    assert httpx.post(url, json=sample_lead(), headers={"X-API-Key": "s3cret-key"}).status_code == 200


@pytest.mark.redis
def test_rate_limit_per_client_in_redis(secured: tuple[str, object], client_name: str, redis_url: str) -> None:
    url = f"{secured[0]}/score-lead"
    with httpx.Client(headers={"X-API-Key": "s3cret-key"}) as c:
        codes = [c.post(url, json=sample_lead()) for _ in range(12)]
    statuses = [r.status_code for r in codes]
    assert statuses.count(429) >= 1 and statuses.count(200) >= 1, statuses
    limited = next(r for r in codes if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["issues"][0]["field"] == "client"
    keys = subprocess.run(
        ["redis-cli", "-u", redis_url, "--scan", "--pattern", f"*{client_name}*"], capture_output=True, text=True
    ).stdout
    assert client_name in keys  # the counter lives in Redis, shared by every replica


def test_jwt_bearer_tokens(jwt_server: tuple[str, object]) -> None:
    url = f"{jwt_server[0]}/score-lead"
    now = int(time.time())
    good = _jwt({"sub": "crm-prod", "aud": "crm", "exp": now + 60})
    assert httpx.post(url, json=sample_lead(), headers={"Authorization": f"Bearer {good}"}).status_code == 200
    for token in (
        _jwt({"sub": "crm-prod", "aud": "crm", "exp": now - 10}),  # expired
        _jwt({"sub": "crm-prod", "aud": "other", "exp": now + 60}),  # wrong audience
        _jwt({"sub": "crm-prod", "aud": "crm", "exp": now + 60}, secret="x" * 40),  # wrong key
        _jwt({"aud": "crm", "exp": now + 60}),  # no subject
    ):
        r = httpx.post(url, json=sample_lead(), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        assert r.json()["issues"][0]["field"] == "authorization"
    r = httpx.post(url, json=sample_lead())
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
