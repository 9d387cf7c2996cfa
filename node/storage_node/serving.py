"""The HTTP server of a node: uvicorn with httptools, and a protocol that bounds what a connection may take.

uvicorn alone lets a connection that sends nothing, or half its headers, stay open for good, and has no cap
on open connections. `Guarded` adds, per `Limits`:

- a header deadline: from a connection's opening, and from the first byte of each later request, its
  headers must be complete within `header_timeout_s`, and at most `max_header_bytes` long (431 otherwise);
- a connection cap: past `max_connections`, the connection that has waited longest without a request in
  progress is closed to make room (an idle or stalled one, never one being answered); when every
  connection is busy, the new one is closed at once.

Bodies are bounded by `storage_node.guard`; idle kept-alive connections by uvicorn's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from storage_node.limits import Limits

log = logging.getLogger(__name__)


def _answer(status: bytes, error: str, detail: str) -> bytes:
    """A whole JSON error response that closes the connection, for answers given below the app."""
    body = b'{"error": "%s", "detail": "%s"}' % (error.encode(), detail.encode())
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (status, len(body))
    return head + b"connection: close\r\n\r\n" + body


_431 = _answer(b"431 Request Header Fields Too Large", "headers too large", "request headers over the limit")
_503 = _answer(b"503 Service Unavailable", "unavailable", "every connection of this node is busy; retry")


class Guarded(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size limit and a connection cap."""

    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn's, plus the state of the limits."""
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._awaiting_headers = True
        self.last_active = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline; make room if the cap is reached."""
        super().connection_made(transport)
        self.last_active = self.loop.time()
        self._arm()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count header bytes while headers are awaited; refuse them past the limit."""
        self.last_active = self.loop.time()
        super().data_received(data)
        if self._awaiting_headers:  # (what came with headers that completed in this piece is body: not counted)
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
                self.transport.write(_431)
                self.transport.close()

    def on_message_begin(self) -> None:
        """The first byte of a request (the parser's word, so the rest of a body answered early is not one)."""
        super().on_message_begin()
        self._awaiting_headers = True
        self._arm()

    def on_headers_complete(self) -> None:
        """The headers arrived in time: stop the deadline."""
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next bytes start a new request."""
        self.last_active = self.loop.time()
        super().on_response_complete()

    def busy(self) -> bool:
        """Whether a request is being answered on this connection."""
        return not self._awaiting_headers and self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and not self.transport.is_closing():
            log.debug("closing a connection whose request headers did not arrive in time")
            self.transport.close()

    def _make_room(self) -> None:
        idle = [c for c in self.connections if isinstance(c, Guarded) and c is not self and not c.busy()]
        if not idle:
            log.warning("%d connections open, all busy: refusing one more", len(self.connections))
            self.transport.write(_503)
            self.transport.close()
            return
        oldest = min(idle, key=lambda c: c.last_active)
        oldest.transport.close()
        self.connections.discard(oldest)


def raise_file_limit(limits: Limits) -> None:
    """Raise the soft open-file limit to the hard one; warn if the connection cap still may not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < limits.max_connections + 256:
        log.warning("open-file limit %d leaves little room above --max-connections %d", soft, limits.max_connections)


def serve(app: Any, *, host: str, port: int, limits: Limits, log_level: str) -> None:
    """Serve `app` until SIGTERM/SIGINT, with the limits."""
    protocol = type("GuardedHttp", (Guarded,), {"limits": limits})
    raise_file_limit(limits)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=math.ceil(limits.keep_alive_s),
        lifespan="on",
    )
    uvicorn.Server(config).run()
