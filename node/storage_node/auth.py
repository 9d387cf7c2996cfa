"""Bearer tokens for the admin and intra-cluster APIs: HS256 JWTs signed with the shared secret."""

from __future__ import annotations

import time

import jwt

ALGORITHM = "HS256"
AUDIENCE = "ferry-node"
MAX_TTL_S = 24 * 3600  # the longest lifetime a node accepts (its own and the operator's tokens live 1 h, 10 min)
LEEWAY_S = 5  # clock skew allowed between nodes and the operator
MAX_TOKEN_BYTES = 4096


class AuthError(Exception):
    """A missing, malformed, expired or wrongly signed token (maps to HTTP 401)."""


def issue_token(secret: str, subject: str = "ferry-operator", ttl_s: int = 3600) -> str:
    """A signed token valid for `ttl_s` seconds."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + ttl_s, "aud": AUDIENCE}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> str:
    """The subject of a valid token; AuthError otherwise.

    Valid: signed with the secret (HS256), for this audience, with an expiry (`exp`) and an issue time (`iat`)
    at most `MAX_TTL_S` apart and an expiry at most `MAX_TTL_S` ahead: no token is good for long.
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError("token too long")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "aud"]},
            leeway=LEEWAY_S,
        )
    except jwt.PyJWTError as exc:
        raise AuthError(str(exc)) from exc
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise AuthError("exp and iat must be numbers")
    if exp - iat > MAX_TTL_S or exp - time.time() > MAX_TTL_S + LEEWAY_S:
        raise AuthError(f"token lifetime over {MAX_TTL_S} s")
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
