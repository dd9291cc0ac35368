"""Caller authentication of the CRM front: none, an API key, or a JWT bearer token."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

import jwt

from leadscore_front.errors import FieldIssue, RequestError
from leadscore_front.settings import FrontSettings

API_KEY_HEADER = "x-api-key"
TOKEN_CACHE_SIZE = 1024
"""Verified bearer tokens remembered per process (a CRM gateway reuses one token for many calls)."""


class Authenticator:
    """Resolves the calling client's name from request headers, or refuses with 401."""

    def __init__(self, settings: FrontSettings) -> None:
        self.mode = settings.auth_mode
        self._keys = dict(settings.api_keys)
        self._jwt_key = settings.jwt_key
        self._algorithms = list(settings.jwt_algorithms)
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        if self.mode == "api_key" and not self._keys:
            raise ValueError("auth_mode=api_key needs at least one entry in api_keys")
        if self.mode == "jwt" and not self._jwt_key:
            raise ValueError("auth_mode=jwt needs jwt_key")
        self._verified: dict[str, tuple[str, float]] = {}
        """Token -> (``sub``, ``exp``) of tokens that passed every check; only ``exp`` can change its verdict
        later (signature, audience and issuer are fixed by the token's bytes, ``nbf``/``iat`` only become
        truer), so a remembered token is re-checked against ``exp`` alone."""

    def client(self, headers: Mapping[str, str], peer: str) -> str:
        """The client's name (the rate-limit key). Header names must be lower-case.

        Raises:
            RequestError: 401 when credentials are missing or invalid.
        """
        if self.mode == "none":
            return headers.get("x-client-id") or peer or "anonymous"
        if self.mode == "api_key":
            given = headers.get(API_KEY_HEADER, "")
            for key, name in self._keys.items():
                if given and hmac.compare_digest(given.encode(), key.encode()):
                    return name
            raise self._refuse(API_KEY_HEADER, "missing or unknown API key")
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise self._refuse("authorization", "expected 'Bearer <JWT>'")
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        return self._verify(token)

    def _verify(self, token: str) -> str:
        """Full PyJWT verification (signature, ``exp``, ``aud``, ``iss``, required claims); remembers the token."""
        self._verified.pop(token, None)
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise self._refuse("authorization", f"invalid token: {exc}") from None
        sub = str(claims["sub"])
        if len(self._verified) >= TOKEN_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (sub, float(claims["exp"]))
        return sub

    def _refuse(self, field: str, reason: str) -> RequestError:
        challenge = 'Bearer realm="leadscore"' if self.mode == "jwt" else 'ApiKey header="X-API-Key"'
        return RequestError(401, "unauthorized", [FieldIssue(field, reason)], {"www-authenticate": challenge})
