"""Bundle transport (I/O): streams a bundle to a peer from a worker thread with os.sendfile.

The HTTP/1.1 request is written by hand on a blocking socket (chunked transfer encoding, one chunk per
large object or per ~1 MiB of small ones) so object data goes from the page cache to the socket without
passing through Python, and the event loop stays free for client requests. Each file is opened by path
and sent only if its header still carries the planned version (files are immutable once installed, so an
open descriptor keeps that version's bytes even if the object is replaced meanwhile).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from storage_node.rebalance.streams import FrameHeader

_HEAD = struct.Struct(">4sI")
_COALESCE = 1 << 20
_SMALL = 256 << 10


class SendError(Exception):
    """The bundle could not be delivered (connection, protocol or HTTP error)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One object to send: where its file is and what the receiver must be told."""

    path: str
    frame: FrameHeader


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


def _open_checked(item: Item) -> tuple[int, int] | None:
    try:
        fd = os.open(item.path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        _magic, length = _HEAD.unpack(os.pread(fd, _HEAD.size, 0))
        raw = json.loads(os.pread(fd, length, _HEAD.size))
        if raw.get("v") != item.frame.version or raw.get("s") != item.frame.size:
            os.close(fd)
            return None
        return fd, _HEAD.size + length
    except (ValueError, struct.error, OSError):
        os.close(fd)
        return None


def send_bundle(
    url: str,
    params: dict[str, str],
    headers: dict[str, str],
    items: list[Item],
    throttle: Throttle,
    stop: threading.Event,
    timeout: float = 120.0,
) -> tuple[list[Item], list[str]]:
    """Blocking: POST the bundle to `url` + /v1/internal/rebalance/recv; (items sent, verdicts)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise SendError(f"connect {host}:{port}: {exc}") from exc
    with sock:
        # blocking socket (os.sendfile needs it) with kernel-level timeouts instead of Python's
        sock.settimeout(None)
        timeval = struct.pack("ll", int(timeout), 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = "/v1/internal/rebalance/recv?" + urlencode(params, quote_via=quote)
        head = [
            f"POST {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Transfer-Encoding: chunked",
            "Content-Type: application/octet-stream",
            "Connection: close",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            sent = stream_frames(sock, items, throttle, stop, chunked=True)
            sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            raise SendError(f"send to {host}:{port}: {exc}") from exc
        return sent, _read_response(sock)


def stream_frames(
    sock: socket.socket, items: list[Item], throttle: Throttle, stop: threading.Event, *, chunked: bool
) -> list[Item]:
    """Write the frames of `items` (HTTP chunks when `chunked`); the items actually sent (OSError passes)."""
    sent: list[Item] = []
    pending: list[bytes] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending, pending_size
        if pending_size:
            throttle.wait(pending_size, stop)
            if chunked:
                pending = [b"%x\r\n" % pending_size, *pending, b"\r\n"]
            sock.sendall(b"".join(pending))
        pending, pending_size = [], 0

    for item in items:
        if stop.is_set():
            raise SendError("cancelled")
        opened = _open_checked(item)
        if opened is None:
            continue
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
                    flush()
                continue
            flush()
            throttle.wait(size, stop)
            sock.sendall(b"%x\r\n" % (len(frame) + size) + frame if chunked else frame)
            done = 0
            while done < size:
                n = os.sendfile(sock.fileno(), fd, offset + done, size - done)
                if n == 0:
                    raise SendError(f"{item.path} truncated")
                done += n
            if chunked:
                sock.sendall(b"\r\n")
            sent.append(item)
        finally:
            os.close(fd)
    flush()
    return sent


def _read_response(sock: socket.socket) -> list[str]:
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise SendError("connection closed before the response")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(fields.get("content-length", "-1"))
        while length < 0 or len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                if length < 0:
                    break
                raise SendError("connection closed mid-response")
            body += chunk
    except (OSError, ValueError, IndexError) as exc:
        raise SendError(f"bad response: {exc}") from exc
    if status != 200:
        raise SendError(f"bundle answered {status}: {body[:200]!r}")
    verdicts: list[str] = json.loads(body)["verdicts"]
    return verdicts
