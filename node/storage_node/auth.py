"""Bearer tokens for the admin and intra-cluster APIs: HS256 JWTs signed with the shared secret."""

from __future__ import annotations

import time

import jwt

ALGORITHM = "HS256"
AUDIENCE = "ferry-node"


class AuthError(Exception):
    """A missing, malformed, expired or wrongly signed token (maps to HTTP 401)."""


def issue_token(secret: str, subject: str = "ferry-operator", ttl_s: int = 3600) -> str:
    """A signed token valid for `ttl_s` seconds."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + ttl_s, "aud": AUDIENCE}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> str:
    """The subject of a valid token; AuthError otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE)
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from exc
    return str(claims.get("sub", ""))


def verify_header(secret: str | None, authorization: str | None) -> None:
    """Check an Authorization header; no-op when auth is disabled (no secret)."""
    if secret is None:
        return
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthError("missing bearer token")
    verify_token(secret, authorization[7:].strip())


class TokenCache:
    """Re-issues this node's own intra-cluster token shortly before it expires."""

    def __init__(self, secret: str | None, subject: str) -> None:
        """Bind to the secret (None: no tokens)."""
        self._secret = secret
        self._subject = subject
        self._token: str | None = None
        self._expires = 0.0

    def headers(self) -> dict[str, str]:
        """Authorization header for an intra-cluster call (empty when auth is disabled)."""
        if self._secret is None:
            return {}
        now = time.time()
        if self._token is None or now > self._expires - 300:
            self._token = issue_token(self._secret, self._subject, 3600)
            self._expires = now + 3600
        return {"Authorization": f"Bearer {self._token}"}
