"""The checks every request meets before any work (ASGI middleware): encoding, token, body size and pace.

- A path or query that is not valid UTF-8 once percent-decoded: 400 (``bad%FF`` and ``bad%FE`` would both
  become one object, ``bad`` and the replacement character).
- The admin and intra-cluster routes: the bearer token is checked before a byte of the body is read (401).
- Their JSON bodies: at most `Limits.max_json_body` bytes, refused at once by Content-Length or as the
  bytes come (413).
- Every body: a pause longer than `Limits.body_timeout_s` between two pieces ends the request (408); a PUT
  drops its temp file as for any broken upload.

A refusal closes the connection (``connection: close``): the rest of a refused body is never read.
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage_node import auth, names
from storage_node.limits import Limits

PROTECTED = ("/v1/admin/", "/v1/internal/")
STREAMED = frozenset({"/v1/internal/rebalance/recv"})  # rebalance bundles: any size, the frames are bounded
_CLOSE = (b"connection", b"close")


class BodyRefused(HTTPException):
    """A request body the node stops reading (its status says why); the connection closes after the answer."""

    error = "body refused"


class BodyTooLarge(BodyRefused):
    """A JSON body over the limit."""

    error = "body too large"

    def __init__(self, limit: int) -> None:
        """Name the limit."""
        super().__init__(413, f"this route takes at most {limit} bytes of JSON")


class BodyTimeout(BodyRefused):
    """A body that paused too long."""

    error = "body timeout"

    def __init__(self, seconds: float) -> None:
        """Name the limit."""
        super().__init__(408, f"the request body paused for more than {seconds:g} s")


def _utf8(scope: Scope) -> str | None:
    """Why the request's path or query is not valid UTF-8 once decoded (None if it is)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    return names.undecodable(raw, scope.get("query_string", b""))


async def _answer(send: Send, status: int, error: str, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), _CLOSE, *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


class _Body:
    """The request's `receive`, bounded in size (JSON routes) and in the pause between two pieces."""

    def __init__(self, receive: Receive, limit: int | None, pause_s: float) -> None:
        self._receive = receive
        self._limit = limit
        self._pause_s = pause_s
        self._seen = 0
        self.done = False
        self.refused = False

    async def __call__(self) -> Message:
        if self.done:  # after the body, `receive` only waits for a disconnect: no limit applies
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self._pause_s)
        except TimeoutError:
            self.refused = True
            raise BodyTimeout(self._pause_s) from None
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self._limit is not None and self._seen > self._limit:
                self.refused = True
                raise BodyTooLarge(self._limit)
        else:
            self.done = True
        return message


class Guard:
    """ASGI middleware: the checks above, before the app sees the request."""

    def __init__(self, app: ASGIApp, secret: str | None, limits: Limits) -> None:
        """Guard `app` with the node's secret (None: no tokens) and limits."""
        self.app = app
        self.secret = secret
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what fails a check; pass the rest on with a bounded body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _utf8(scope)
        if bad is not None:
            await _answer(send, 400, "invalid name", bad, [])
            return
        path: str = scope["path"]
        limit = None
        if path.startswith(PROTECTED):
            headers = dict(scope["headers"])
            try:
                auth.verify_header(self.secret, headers.get(b"authorization", b"").decode("latin-1") or None)
            except auth.AuthError as exc:
                await _answer(send, 401, "unauthorized", str(exc), [(b"www-authenticate", b"Bearer")])
                return
            if path not in STREAMED:
                limit = self.limits.max_json_body
                length = headers.get(b"content-length", b"0")
                if not length.isdigit() or int(length) > limit:
                    await _answer(send, 413, BodyTooLarge.error, BodyTooLarge(limit).detail, [])
                    return
        body = _Body(receive, limit, self.limits.body_timeout_s)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and body.refused:
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        await self.app(scope, body, sending)
