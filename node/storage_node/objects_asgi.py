"""The object routes (``/v1/objects/{bucket}/{name}``) as a raw ASGI app: per request only what it needs.

Every client read and write crosses these routes, so they skip the web framework: no routing table, no
middleware stack, no request object, no JSON for a GET. A request is parsed here, answered by `datapath`
(the same decisions the framework's routes translated before) and written as ASGI messages; every other
path, and a method these routes do not serve, goes on to `rest` (the FastAPI app of the admin, internal,
bucket and health routes), which answers as it always did.

What the framework's middleware did for these routes is done here, in the same words:

- a path or query that is not valid UTF-8 once percent-decoded: 400 ``invalid name``;
- a body that pauses longer than `Limits.body_timeout_s`: 408 ``body timeout``, the connection closed;
- an error before the answer started: a JSON 500 naming the error's kind (logged with its traceback); a
  request cancelled before its answer (the server stopping): 503 with Retry-After; `Unavailable`: 503 with
  Retry-After; a full mountpath: 507; a bad name: 400;
- each request counted and timed under the route template ``/v1/objects/{bucket}/{name}``; a client
  that went away before its answer is counted with code 499.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote

from storage_node import datapath, fileio, maps, metrics, names, wire
from storage_node.asking import Unavailable
from storage_node.limits import Limits
from storage_node.node import Node
from storage_node.store import NoSpace, ObjMeta, out_of_space

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

PREFIX = "/v1/objects/"
ROUTE = "/v1/objects/{bucket}/{name}"  # the metrics label (the route template, as the framework wrote it)
METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
CHUNK = 4 << 20  # a large local copy is sent in pieces of this size
_GONE = 499  # the code a request whose client went away is counted with

_JSON = (b"content-type", b"application/json")
_OCTETS = (b"content-type", b"application/octet-stream")
_CLOSE = (b"connection", b"close")
_ACCEPT_RANGES = (b"accept-ranges", b"bytes")
_NEIGHBOUR_HEADERS = ("content-length", wire.CHECKSUM, wire.CHECKSUM_TYPE, wire.VERSION, "etag")
_REDIRECT_SAFE = ":/%#?=@[]!$&'()*+,;"  # what a Location keeps unquoted (as the framework's redirect)


class ClientGone(Exception):
    """The client went away before its request's body ended (or before its answer could be sent)."""


class BodyTimeout(Exception):
    """The request body paused longer than the limit."""

    def __init__(self, seconds: float) -> None:
        """Name the limit."""
        super().__init__(f"the request body paused for more than {seconds:g} s")


class _Reply:
    """The response side of one request: its status once started, and the sending."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None

    async def start(self, status: int, headers: Headers) -> None:
        self.status = status
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool = False) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def whole(self, status: int, headers: Headers, data: bytes = b"") -> None:
        await self.start(status, [*headers, (b"content-length", str(len(data)).encode())])
        await self.body(data)

    async def json(self, status: int, body: dict[str, Any], headers: Headers = ()) -> None:
        data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        await self.whole(status, [_JSON, *headers], data)

    async def error(self, status: int, error: str, detail: str, headers: Headers = ()) -> None:
        await self.json(status, {"error": error, "detail": detail}, headers)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range a ``Range`` header asks of an object of `size` bytes: (first, last), both included.

    None: serve the whole object (no header, one not in bytes, several ranges, or a malformed one: RFC 9110
    lets a server ignore those). Unsatisfiable (ValueError): the range starts past the end, or asks for the
    last 0 bytes.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":  # the last N bytes
        if int(last) == 0 or size == 0:
            raise ValueError(f"bytes={spec}: no bytes of a {size}-byte object")
        return max(0, size - int(last)), size - 1
    if int(first) >= size or (last and int(last) < int(first)):
        if last and int(last) < int(first):
            return None  # malformed: ignored
        raise ValueError(f"bytes={spec}: starts past the end of a {size}-byte object")
    return int(first), min(int(last), size - 1) if last else size - 1


def _object_headers(meta: ObjMeta, *, length: bool = True) -> list[tuple[bytes, bytes]]:
    headers = [
        (wire.CHECKSUM.encode(), meta.cksum.encode()),
        (wire.CHECKSUM_TYPE.encode(), fileio.CHECKSUM_TYPE.encode()),
        (wire.VERSION.encode(), str(meta.version).encode()),
        (b"etag", f'"{meta.cksum}"'.encode()),
    ]
    return [(b"content-length", str(meta.size).encode()), *headers] if length else headers


class Objects:
    """ASGI: the object routes served here, everything else by `rest`."""

    def __init__(self, node: Node, rest: ASGIApp, limits: Limits) -> None:
        """Serve `node`'s objects; pass the rest to `rest`."""
        self.node = node
        self.rest = rest
        self.limits = limits
        self._counters: dict[tuple[str, int], Any] = {}
        self._timers = {m: metrics.HTTP_DURATION.labels(m, ROUTE) for m in METHODS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (or pass it on)."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX) or scope["method"] not in METHODS:
            await self.rest(scope, receive, send)
            return
        bucket, slash, name = path[len(PREFIX) :].partition("/")
        if not bucket or not slash:
            await self.rest(scope, receive, send)  # not an object's path: the framework's 404
            return
        method: str = scope["method"]
        started = time.perf_counter()
        reply = _Reply(send)
        try:
            await self._guarded(scope, receive, reply, bucket, name)
        finally:
            code = reply.status or _GONE
            counter = self._counters.get((method, code))
            if counter is None:
                counter = self._counters[(method, code)] = metrics.HTTP_REQUESTS.labels(method, ROUTE, str(code))
            counter.inc()
            self._timers[method].observe(time.perf_counter() - started)

    async def _guarded(self, scope: Scope, receive: Receive, reply: _Reply, bucket: str, name: str) -> None:
        """Serve; translate what the data path raises into its answer (see the module's list)."""
        try:
            bad = names.undecodable(scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b""))
            if bad is not None:
                await reply.error(400, "invalid name", bad, [_CLOSE])
                return
            await self._serve(scope, receive, reply, bucket, name)
        except ClientGone:
            return
        except asyncio.CancelledError:
            # the server is stopping and its grace ran out while this request still waited: "retry", not 500
            if reply.status is not None:
                raise
            await reply.error(503, "unavailable", "this node is stopping; retry", [(b"retry-after", b"1"), _CLOSE])
        except Exception as exc:
            if reply.status is not None:
                raise  # the answer started: the server cuts the connection
            await self._failed(scope, reply, exc)

    async def _failed(self, scope: Scope, reply: _Reply, exc: Exception) -> None:
        if isinstance(exc, names.InvalidName):
            await reply.error(400, "invalid name", str(exc))
        elif isinstance(exc, BodyTimeout):
            await reply.error(408, "body timeout", str(exc), [_CLOSE])
        elif isinstance(exc, Unavailable):
            await reply.error(503, "unavailable", str(exc), [(b"retry-after", b"1")])
        elif isinstance(exc, NoSpace) or (isinstance(exc, OSError) and out_of_space(exc)):
            await reply.error(507, "insufficient storage", str(exc))
        elif isinstance(exc, maps.MapConflict):
            await reply.error(409, "map conflict", str(exc))
        else:
            log.error("%s %s failed", scope["method"], scope.get("path", ""), exc_info=exc)
            await reply.error(500, "internal", f"{type(exc).__name__}: {exc}"[:300])

    async def _serve(self, scope: Scope, receive: Receive, reply: _Reply, bucket: str, name: str) -> None:
        node, method = self.node, scope["method"]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        early = await datapath.admit(node, bucket, name, query)
        if early is not None:
            await self._answer(reply, receive, early)
            return
        if method == "GET" or method == "HEAD":
            wanted = None
            if method == "GET":
                for key, value in scope["headers"]:
                    if key == b"range":
                        wanted = value.decode("latin-1")
            await self._answer(reply, receive, await datapath.read(node, bucket, name, head=method == "HEAD"), wanted)
        elif method == "PUT":
            checksum = None
            for key, value in scope["headers"]:
                if key == b"x-ferry-checksum":
                    checksum = value.decode("latin-1")
            done = await datapath.write(node, bucket, name, self._body(receive), checksum)
            if isinstance(done, datapath.Refused):
                await reply.error(done.status, done.error, done.detail)
                return
            meta = done.meta
            body = {"bucket": bucket, "name": name, "size": meta.size, "checksum": meta.cksum, "version": meta.version}
            await reply.json(200, body, _object_headers(meta, length=False))
        else:
            missing = await datapath.delete(node, bucket, name)
            if missing is not None:
                await self._answer(reply, receive, missing)
                return
            await reply.json(200, {"bucket": bucket, "name": name, "deleted": True})

    async def _body(self, receive: Receive) -> AsyncIterator[bytes]:
        """The request body's pieces; BodyTimeout on a long pause, ClientGone if the client went away."""
        pause = self.limits.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), pause)
            except TimeoutError:
                raise BodyTimeout(pause) from None
            if message["type"] != "http.request":
                raise ClientGone()
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    async def _answer(
        self,
        reply: _Reply,
        receive: Receive,
        decision: datapath.Redirect | datapath.Missing | datapath.Corrupt | datapath.Copy,
        wanted: str | None = None,
    ) -> None:
        """The HTTP answer of a data-path decision (the table in `datapath`); `wanted`: a GET's Range header."""
        if isinstance(decision, datapath.Redirect):
            await reply.whole(307, [(b"location", quote(decision.url, safe=_REDIRECT_SAFE).encode())])
            return
        if isinstance(decision, datapath.Missing):
            await reply.error(404, decision.error, decision.detail)
            return
        if isinstance(decision, datapath.Corrupt):
            await reply.error(500, "corrupt copy", decision.detail)
            return
        size = decision.found.size if isinstance(decision, datapath.NeighbourCopy) else decision.meta.size
        try:
            part = byte_range(wanted, size)
        except ValueError as exc:
            await _drop(decision)
            await reply.error(416, "range not satisfiable", str(exc), [(b"content-range", f"bytes */{size}".encode())])
            return
        if isinstance(decision, datapath.NeighbourCopy):
            await self._neighbour(reply, receive, decision, part)
            return
        meta = decision.meta
        first, last = part if part is not None else (0, meta.size - 1)
        if decision.fd is not None:
            await self._file(reply, receive, decision, first, last, part is not None)
            return
        await reply.start(*_status(meta, first, last, part is not None, decision.data is not None))
        await reply.body(b"" if decision.data is None else decision.data[first : last + 1])

    async def _neighbour(
        self, reply: _Reply, receive: Receive, decision: datapath.NeighbourCopy, part: tuple[int, int] | None
    ) -> None:
        found, upstream = decision.found, decision.upstream
        if upstream is None:  # HEAD
            headers = [(b"content-length", str(found.size).encode()), (wire.CHECKSUM.encode(), found.cksum.encode())]
            headers += [(wire.VERSION.encode(), str(found.version).encode()), (b"etag", f'"{found.cksum}"'.encode())]
            await reply.start(200, headers)
            await reply.body(b"")
            return
        try:
            kept = [(k.encode(), upstream.headers[k].encode()) for k in _NEIGHBOUR_HEADERS if k in upstream.headers]
            first, last = part if part is not None else (0, found.size - 1)
            if part is not None:
                kept = [(k, v) for k, v in kept if k != b"content-length"]
                kept += [(b"content-length", str(last - first + 1).encode())]
                kept += [(b"content-range", f"bytes {first}-{last}/{found.size}".encode())]
            await reply.start(206 if part is not None else 200, [*kept, _ACCEPT_RANGES, _OCTETS])
            at = 0  # the stream's offset of the next piece
            async with _Watch(receive) as watch:
                async for piece in upstream.aiter_raw():
                    if watch.gone:
                        return
                    lo, hi = max(first - at, 0), min(last + 1 - at, len(piece))
                    at += len(piece)
                    if lo < hi:
                        await reply.body(piece[lo:hi], more=True)
                    if at > last:
                        break
            await reply.body(b"")
        finally:
            await upstream.aclose()

    async def _file(
        self, reply: _Reply, receive: Receive, copy: datapath.LocalCopy, first: int, last: int, ranged: bool
    ) -> None:
        """A large local copy, read in pieces from its descriptor (closed at the end) as the client takes them."""
        meta, fd = copy.meta, copy.fd
        assert fd is not None
        try:
            await reply.start(*_status(meta, first, last, ranged, True))
            at = first
            async with _Watch(receive) as watch:
                while at <= last and not watch.gone:
                    piece = os.pread(fd, min(CHUNK, last + 1 - at), copy.offset + at)
                    if not piece:
                        raise OSError(f"{meta.bucket}/{meta.name}: its file ended {last + 1 - at} bytes early")
                    at += len(piece)
                    await reply.body(piece, more=at <= last)
        finally:
            os.close(fd)


async def _drop(copy: datapath.Copy) -> None:
    """Close what a copy that will not be sent holds open (its file, or its neighbour's answer)."""
    if isinstance(copy, datapath.NeighbourCopy):
        if copy.upstream is not None:
            await copy.upstream.aclose()
    elif copy.fd is not None:
        os.close(copy.fd)


def _status(meta: ObjMeta, first: int, last: int, ranged: bool, body: bool) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Status and headers of a local copy's answer: the whole object (200), or one range of it (206)."""
    if not ranged:
        extra = [_ACCEPT_RANGES] if body else []
        return 200, [*_object_headers(meta), *extra, _OCTETS]
    headers = [(b"content-length", str(last - first + 1).encode()), *_object_headers(meta, length=False)]
    headers += [(b"content-range", f"bytes {first}-{last}/{meta.size}".encode()), _ACCEPT_RANGES, _OCTETS]
    return 206, headers


class _Watch:
    """While a long answer is sent: notes a client that went away (so the rest is not read for nobody)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self.gone = False

    async def __aenter__(self) -> _Watch:
        self._task = asyncio.ensure_future(self._wait())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _wait(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                return
