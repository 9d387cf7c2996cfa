"""Wire format of a rebalance bundle (no I/O of its own): the one encoder and the one decoder of both transports.

A bundle session on the raw listener (every length a u32, big endian):

- sender: ``len | JSON hello {"token", "to", "from", "reb", "mv"}``
- receiver: ``len | JSON {"ok": true}``, or ``len | JSON {"error": ...}`` and it closes
- sender: frames ``len | JSON header | data``, the header ``{"b": bucket, "n": name, "s": size,
  "c": checksum, "v": version, "bv": bucket version}``, then `END` (a zero length)
- receiver: ``len | JSON {"verdicts": [...]}`` (one per frame, in order), or ``{"error": ...}``

Over HTTP (``POST /v1/internal/rebalance/recv``, the fallback) the request is the hello (query ``reb``,
``from``, ``mv`` and the bearer token), the body is the frames and `END` exactly as above, and the response
body is the verdicts JSON.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage_node import names, strict

_LEN = struct.Struct(">I")
END = _LEN.pack(0)  # after the last frame
BUFFER = 1 << 20  # a reader's buffer; also the most `Reader.exact` returns
_MAX_JSON = 1 << 16


class ProtocolError(Exception):
    """The peer broke the bundle protocol."""


def message(value: Any) -> bytes:
    """A length-prefixed JSON message (hello, answer)."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return _LEN.pack(len(body)) + body


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """Identity and integrity data of one object in a bundle."""

    bucket: str
    name: str
    size: int
    cksum: str
    version: int
    bucket_version: int

    def encode(self) -> bytes:
        """The frame prefix (length + JSON header); the object's `size` bytes follow."""
        return message(
            {
                "b": self.bucket,
                "n": self.name,
                "s": self.size,
                "c": self.cksum,
                "v": self.version,
                "bv": self.bucket_version,
            }
        )

    @classmethod
    def decode(cls, raw: Any) -> FrameHeader:
        """The header of a decoded JSON frame prefix; ProtocolError if it is not one."""
        if not isinstance(raw, dict):
            raise ProtocolError("bad frame header: not an object")
        bucket, name, size, cksum, version, bv = (raw.get(k) for k in ("b", "n", "s", "c", "v", "bv"))
        if not (isinstance(bucket, str) and isinstance(name, str) and isinstance(cksum, str)):
            raise ProtocolError("bad frame header: bucket, name and checksum must be strings")
        try:
            names.check_bucket(bucket)
            names.check_object(name)
        except names.InvalidName as exc:
            raise ProtocolError(f"bad frame header: {exc}") from exc
        if not (strict.is_version(version) and strict.is_count(bv) and strict.is_count(size)):
            raise ProtocolError("bad frame header: size, version and bucket version must be bounded integers")
        assert isinstance(size, int) and isinstance(version, int) and isinstance(bv, int)
        return cls(bucket, name, size, cksum, version, bv)


class Reader:
    """Decodes a bundle session from a byte source, buffered in one preallocated buffer.

    `recv_into` is a blocking ``socket.recv_into``-like callable (0 = end of stream), so the same decoder
    reads a socket, a tunnel or bytes in memory (`Reader.of`).
    """

    def __init__(self, recv_into: Callable[[memoryview], int], size: int = BUFFER) -> None:
        """Read from `recv_into` into a buffer of `size` bytes (a small one until the sender is known: `grow`)."""
        self._recv_into = recv_into
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def grow(self, size: int = BUFFER) -> None:
        """Read on with a buffer of `size` bytes (what is buffered and not yet read is kept)."""
        if size <= len(self._buf):
            return
        pending = self._view[self._start : self._end]
        buf = bytearray(size)
        buf[: len(pending)] = pending
        self._buf, self._view = buf, memoryview(buf)
        self._start, self._end = 0, len(pending)

    @classmethod
    def of(cls, data: bytes) -> Reader:
        """A reader of bytes already received."""
        return cls(io.BytesIO(data).readinto)

    def _fill(self) -> None:
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._buf):
            self._buf[: self._end - self._start] = self._view[self._start : self._end]
            self._end -= self._start
            self._start = 0
        n = self._recv_into(self._view[self._end :])
        if n == 0:
            raise EOFError("bundle truncated")
        self._end += n

    def exact(self, n: int) -> bytes:
        """Exactly n (<= the buffer's size) bytes; EOFError if the stream ends first."""
        if n > len(self._buf):
            raise ProtocolError(f"a message of {n} bytes does not fit the {len(self._buf)} bytes this reader takes")
        while self._end - self._start < n:
            self._fill()
        out = bytes(self._view[self._start : self._start + n])
        self._start += n
        return out

    def message(self) -> Any:
        """The next length-prefixed JSON value; None for a zero length (`END`)."""
        (length,) = _LEN.unpack(self.exact(_LEN.size))
        if length == 0:
            return None
        if length > _MAX_JSON:
            raise ProtocolError("header too large")
        try:
            return json.loads(self.exact(length))
        except ValueError as exc:
            raise ProtocolError(f"bad JSON: {exc}") from exc

    def frame(self) -> FrameHeader | None:
        """The next frame's header (its data follows: `stream`), or None at `END`."""
        raw = self.message()
        return None if raw is None else FrameHeader.decode(raw)

    def stream(self, n: int, sink: Callable[[memoryview], object]) -> None:
        """Pass exactly n bytes to `sink` in pieces (views of the buffer, valid during the call only)."""
        while n:
            if self._start == self._end:
                self._start = self._end = 0
                got = self._recv_into(self._view[: min(n, len(self._buf))])
                if got == 0:
                    raise EOFError("bundle truncated")
                self._end = got
            take = min(n, self._end - self._start)
            sink(self._view[self._start : self._start + take])
            self._start += take
            n -= take
