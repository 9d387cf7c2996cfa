"""Raw bundle transport (I/O): rebalance bundles over a plain TCP listener, received by a thread per connection.

The HTTP route ``/v1/internal/rebalance/recv`` stays the reference path (and the fallback); this one removes the
HTTP server from the data path: the receiver reads with ``recv_into`` into one preallocated buffer per
connection, hashes and writes each object to its temp file from a worker thread, and hands only the final
check-and-install to the event loop (in batches), so invariant 2 holds exactly as on the HTTP path.

The listener binds the node's HTTP host on ``--bundle-port`` (0 = any free port; -1 = disabled) and is
announced by ``GET /v1/internal/rebalance/endpoint`` (token-protected), so nothing is derived from the map.

Wire (all lengths u32 big endian):

- sender: ``len | JSON hello {"token", "to", "from", "reb", "mv"}``
- receiver: ``len | JSON {"ok": true}`` or ``{"error": ...}`` then closes
- sender: frames exactly as in ``streams`` (``len | JSON header | data``), then ``u32 0``
- receiver: ``len | JSON {"verdicts": [...]}`` (or ``{"error": ...}``)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storage_node import auth
from storage_node.rebalance import sending
from storage_node.rebalance.streams import FrameHeader
from storage_node.schemas import rebalance_number

if TYPE_CHECKING:
    from storage_node.store import Tmp

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
_BUF = 1 << 20
_MAX_JSON = 1 << 16
_FLUSH_OBJECTS = 256
_FLUSH_BYTES = 16 << 20
_TIMEOUT = 120.0
_MAX_CONNECTIONS = 64

# (frame header, finished temp file) -> verdict; runs on the event loop
Committer = Callable[[str, list[tuple[FrameHeader, "Tmp"]]], list[str]]


class ProtocolError(Exception):
    """The peer broke the bundle protocol."""


def _timeouts(sock: socket.socket, timeout: float) -> None:
    sock.settimeout(None)
    timeval = struct.pack("ll", int(timeout), 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _send_json(sock: socket.socket, value: Any) -> None:
    body = json.dumps(value, separators=(",", ":")).encode()
    sock.sendall(_LEN.pack(len(body)) + body)


class _Reader:
    """Buffered reads from a blocking socket into one preallocated buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray(_BUF)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def _fill(self) -> None:
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._buf):
            self._buf[: self._end - self._start] = self._view[self._start : self._end]
            self._end -= self._start
            self._start = 0
        n = self._sock.recv_into(self._view[self._end :])
        if n == 0:
            raise EOFError("bundle truncated")
        self._end += n

    def exact(self, n: int) -> bytes:
        """Exactly n (<= buffer size) bytes."""
        while self._end - self._start < n:
            self._fill()
        out = bytes(self._view[self._start : self._start + n])
        self._start += n
        return out

    def json(self) -> Any:
        """A length-prefixed JSON value; None for a zero length."""
        (length,) = _LEN.unpack(self.exact(_LEN.size))
        if length == 0:
            return None
        if length > _MAX_JSON:
            raise ProtocolError("header too large")
        return json.loads(self.exact(length))

    def stream(self, n: int, sink: Callable[[memoryview], None]) -> None:
        """Pass exactly n bytes to `sink` in pieces (views of the buffer, valid during the call only)."""
        while n:
            if self._start == self._end:
                self._start = self._end = 0
                got = self._sock.recv_into(self._view[: min(n, _BUF)] if n < _BUF else self._view)
                if got == 0:
                    raise EOFError("bundle truncated")
                self._end = got
            take = min(n, self._end - self._start)
            sink(self._view[self._start : self._start + take])
            self._start += take
            n -= take


class BundleServer:
    """The raw bundle listener of a node: an accept thread plus one thread per connection."""

    def __init__(
        self,
        node_id: str,
        secret: str | None,
        loop: asyncio.AbstractEventLoop,
        begin: Callable[[FrameHeader], Tmp],
        commit: Committer,
        adopt_map: Callable[[str | None, int], Any],
    ) -> None:
        """Bind to the node's pieces; `start()` opens the listener."""
        self._node_id = node_id
        self._secret = secret
        self._loop = loop
        self._begin = begin
        self._commit = commit
        self._adopt_map = adopt_map
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port: int | None = None

    def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 = any free port); the port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        threading.Thread(target=self._accept, name="bundle-accept", daemon=True).start()
        return self.port

    def close(self) -> None:
        """Stop accepting and drop open connections (their senders retry)."""
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            with self._lock:
                busy = len(self._conns) >= _MAX_CONNECTIONS
                if not busy:
                    self._conns.add(conn)
            if busy:
                conn.close()  # the sender sees Refused and uses HTTP for a while
                continue
            threading.Thread(target=self._serve, args=(conn,), name="bundle-recv", daemon=True).start()

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the event loop and wait for its result."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                _timeouts(conn, _TIMEOUT)
                self._session(conn)
        except Exception as exc:  # the sender sees the connection drop and retries
            log.info("bundle connection dropped: %s: %s", type(exc).__name__, exc)
        finally:
            with self._lock:
                self._conns.discard(conn)

    def _session(self, conn: socket.socket) -> None:
        reader = _Reader(conn)
        hello = reader.json()
        if not isinstance(hello, dict):
            raise ProtocolError("no hello")
        try:
            auth.verify_header(self._secret, f"Bearer {hello.get('token') or ''}")
        except auth.AuthError as exc:
            _send_json(conn, {"error": f"unauthorized: {exc}"})
            return
        if hello.get("to") != self._node_id:
            _send_json(conn, {"error": f"this is {self._node_id}, not {hello.get('to')}"})
            return
        reb = str(hello.get("reb", ""))
        try:
            rebalance_number(reb)
        except ValueError:
            _send_json(conn, {"error": f"bad rebalance id {reb!r}"})
            return
        mv = hello.get("mv")
        if isinstance(mv, int):
            sender = hello.get("from")
            coro = self._adopt_map(sender if isinstance(sender, str) else None, mv)
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT)
        _send_json(conn, {"ok": True})
        verdicts: list[str] = []
        futures: list[concurrent.futures.Future[list[str]]] = []
        batch: list[tuple[FrameHeader, Tmp]] = []
        batch_bytes = 0

        def flush() -> None:
            nonlocal batch, batch_bytes
            if batch:
                items = batch
                futures.append(self._on_loop(lambda: self._commit(reb, items)))
            batch, batch_bytes = [], 0

        try:
            while (raw := reader.json()) is not None:
                head = FrameHeader(raw["b"], raw["n"], int(raw["s"]), raw["c"], int(raw["v"]), int(raw["bv"]))
                if head.size < 0:
                    raise ProtocolError("negative size")
                tmp = self._begin(head)
                try:
                    reader.stream(head.size, tmp.write)
                except BaseException:
                    tmp.abort()
                    raise
                batch.append((head, tmp))
                batch_bytes += head.size
                if len(batch) >= _FLUSH_OBJECTS or batch_bytes >= _FLUSH_BYTES:
                    flush()
        except BaseException:
            for _, tmp in batch:
                tmp.abort()
            raise
        flush()
        for fut in futures:
            verdicts += fut.result(_TIMEOUT)
        _send_json(conn, {"verdicts": verdicts})


class Refused(sending.SendError):
    """The peer's bundle listener is unusable (not reachable, not a Ferry node, or refused the hello)."""


def send_bundle(
    host: str,
    port: int,
    hello: dict[str, Any],
    items: list[sending.Item],
    throttle: sending.Throttle,
    stop: threading.Event,
    timeout: float = _TIMEOUT,
) -> tuple[list[sending.Item], list[str]]:
    """Blocking: stream the bundle to a peer's bundle listener; (items sent, verdicts)."""
    try:
        sock = socket.create_connection((host, port), timeout=5.0)
    except OSError as exc:
        raise Refused(f"connect {host}:{port}: {exc}") from exc
    with sock:
        try:
            _timeouts(sock, timeout)
            _send_json(sock, hello)
            reader = _Reader(sock)
            answer = reader.json()
        except (OSError, EOFError, ValueError, ProtocolError) as exc:
            raise Refused(f"hello to {host}:{port}: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise Refused(f"{host}:{port} refused the bundle: {answer!r:.200}")
        try:
            sent = sending.stream_frames(sock, items, throttle, stop, chunked=False)
            sock.sendall(_LEN.pack(0))
            result = reader.json()
        except (OSError, EOFError, ValueError, ProtocolError) as exc:
            raise sending.SendError(f"send to {host}:{port}: {exc}") from exc
    if not isinstance(result, dict) or not isinstance(result.get("verdicts"), list):
        raise sending.SendError(f"bad answer from {host}:{port}: {result!r:.200}")
    verdicts: list[str] = result["verdicts"]
    return sent, verdicts
