"""Sending a bundle (I/O, a worker thread): to a peer's raw listener, or over HTTP (``h11``) as the fallback.

Both transports carry the same byte stream (`bundles`), produced once by `_pieces`: frame headers and small
objects coalesced into writes of about 1 MiB, large objects by ``os.sendfile`` from the page cache to the
socket without passing through Python. Each object's file is opened through the store only if it still
holds the planned version (files are immutable once installed, so the open descriptor keeps that version's
bytes even if the object is replaced meanwhile).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit

import h11

from storage_node.rebalance import bundles

_COALESCE = 1 << 20
_SMALL = 256 << 10
_TIMEOUT = 120.0


class SendError(Exception):
    """The bundle could not be delivered (connection, protocol or HTTP error); retried later."""


class Refused(SendError):
    """The peer's bundle listener is unusable (not reachable, not a Ferry node, or refused the hello)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One object to send: what the receiver is told, and how to open its data: (fd, offset) or None if gone."""

    frame: bundles.FrameHeader
    open: Callable[[], tuple[int, int] | None]


class Throttle:
    """Shared token bucket in bytes/s (0 = unlimited), read from a callable so it can change any time.

    Bytes are reserved in slices of at most ``SLICE_SECONDS`` at the current rate, so a changed setting
    (lower, higher or unlimited) takes effect within a slice instead of after a long reservation.
    """

    SLICE_SECONDS = 0.1

    def __init__(self, rate: Callable[[], int]) -> None:
        """Bind to the setting."""
        self._rate = rate
        self._lock = threading.Lock()
        self._next = 0.0

    def _reserve(self, nbytes: int, rate: int) -> float:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + nbytes / rate
            return start - now

    def wait(self, nbytes: int, stop: threading.Event) -> None:
        """Block until `nbytes` may be sent (or `stop` is set)."""
        remaining = nbytes
        while remaining > 0:
            rate = self._rate()
            if rate <= 0:
                return
            step = max(1, min(remaining, int(rate * self.SLICE_SECONDS)))
            delay = self._reserve(step, rate)
            if delay > 0 and stop.wait(delay):
                return
            remaining -= step


@dataclass(frozen=True, slots=True)
class _Span:
    """Bytes of an open file, sent with ``os.sendfile`` (``len`` is what ``h11`` frames)."""

    fd: int
    offset: int
    size: int

    def __len__(self) -> int:
        return self.size


def _pieces(items: list[Item], throttle: Throttle, stop: threading.Event, sent: list[Item]) -> Iterator[bytes | _Span]:
    """The bundle's frames and `END`, throttled; appends to `sent` the items actually sent."""
    pending: list[bytes] = []
    pending_size = 0

    def flush() -> Iterator[bytes]:
        nonlocal pending, pending_size
        if pending_size:
            throttle.wait(pending_size, stop)
            yield b"".join(pending)
        pending, pending_size = [], 0

    for item in items:
        if stop.is_set():
            raise SendError("cancelled")
        opened = item.open()
        if opened is None:
            continue  # gone or replaced since planning: the next traversal sees the current copy
        fd, offset = opened
        try:
            frame = item.frame.encode()
            size = item.frame.size
            if size <= _SMALL:
                data = os.pread(fd, size, offset)
                if len(data) != size:
                    continue
                pending += [frame, data]
                pending_size += len(frame) + size
                sent.append(item)
                if pending_size >= _COALESCE:
                    yield from flush()
                continue
            yield from flush()
            throttle.wait(size, stop)
            yield frame
            yield _Span(fd, offset, size)
            sent.append(item)
        finally:
            os.close(fd)
    yield from flush()
    yield bundles.END


def _write(sock: socket.socket, piece: bytes | _Span) -> None:
    if not isinstance(piece, _Span):
        sock.sendall(piece)
        return
    done = 0
    while done < piece.size:
        n = os.sendfile(sock.fileno(), piece.fd, piece.offset + done, piece.size - done)
        if n == 0:
            raise SendError("file truncated")
        done += n


def _connect(host: str, port: int, timeout: float, error: type[SendError]) -> socket.socket:
    """A blocking socket (``os.sendfile`` needs one) with kernel-level timeouts instead of Python's."""
    try:
        sock = socket.create_connection((host, port), timeout=min(timeout, 5.0))
    except OSError as exc:
        raise error(f"connect {host}:{port}: {exc}") from exc
    sock.settimeout(None)
    timeval = struct.pack("ll", int(timeout), 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _verdicts(answer: Any, where: str) -> list[str]:
    if not isinstance(answer, dict) or not isinstance(answer.get("verdicts"), list):
        raise SendError(f"bad answer from {where}: {answer!r:.200}")
    verdicts: list[str] = answer["verdicts"]
    return verdicts


def send_raw(
    host: str,
    port: int,
    hello: dict[str, Any],
    items: list[Item],
    throttle: Throttle,
    stop: threading.Event,
    timeout: float = _TIMEOUT,
) -> tuple[list[Item], list[str]]:
    """Blocking: stream the bundle to a peer's raw bundle listener; (items sent, verdicts)."""
    where = f"{host}:{port}"
    with _connect(host, port, timeout, Refused) as sock:
        reader = bundles.Reader(sock.recv_into)
        try:
            sock.sendall(bundles.message(hello))
            answer = reader.message()
        except (OSError, EOFError, bundles.ProtocolError) as exc:
            raise Refused(f"hello to {where}: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise Refused(f"{where} refused the bundle: {answer!r:.200}")
        sent: list[Item] = []
        try:
            for piece in _pieces(items, throttle, stop, sent):
                _write(sock, piece)
            result = reader.message()
        except (OSError, EOFError, bundles.ProtocolError) as exc:
            raise SendError(f"send to {where}: {exc}") from exc
    return sent, _verdicts(result, where)


def send_http(
    url: str,
    params: dict[str, str],
    headers: dict[str, str],
    items: list[Item],
    throttle: Throttle,
    stop: threading.Event,
    timeout: float = _TIMEOUT,
) -> tuple[list[Item], list[str]]:
    """Blocking: POST the bundle to `url` + /v1/internal/rebalance/recv; (items sent, verdicts)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    where = f"{host}:{port}"
    http = h11.Connection(our_role=h11.CLIENT)
    request = h11.Request(
        method="POST",
        target="/v1/internal/rebalance/recv?" + urlencode(params, quote_via=quote),
        headers=[
            ("Host", where),
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/octet-stream"),
            ("Connection", "close"),
            *headers.items(),
        ],
    )
    sent: list[Item] = []
    with _connect(host, port, timeout, SendError) as sock:
        try:
            sock.sendall(http.send(request) or b"")
            for piece in _pieces(items, throttle, stop, sent):
                # the piece itself comes back between h11's chunk framing, so a _Span still goes by sendfile
                for out in http.send_with_data_passthrough(h11.Data(data=cast(bytes, piece))) or []:
                    _write(sock, cast(bytes | _Span, out))
            sock.sendall(http.send(h11.EndOfMessage()) or b"")
            status, body = _response(http, sock)
        except (OSError, h11.ProtocolError) as exc:
            raise SendError(f"send to {where}: {exc}") from exc
    if status != 200:
        raise SendError(f"bundle answered {status}: {body[:200]!r}")
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise SendError(f"bad answer from {where}: {exc}") from exc
    return sent, _verdicts(answer, where)


def _response(http: h11.Connection, sock: socket.socket) -> tuple[int, bytes]:
    """The response's status and body."""
    status = 0
    body = bytearray()
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise SendError("connection closed before the response")
