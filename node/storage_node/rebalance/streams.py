"""Wire format of a rebalance bundle: many objects in one streamed HTTP body.

A bundle is a sequence of frames ``u32 header length | JSON header | data`` where the header is
``{"b": bucket, "n": name, "s": size, "c": checksum, "v": version, "bv": bucket version}``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

_LEN = struct.Struct(">I")


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
        """The frame prefix (length + JSON header)."""
        body = json.dumps(
            {
                "b": self.bucket,
                "n": self.name,
                "s": self.size,
                "c": self.cksum,
                "v": self.version,
                "bv": self.bucket_version,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return _LEN.pack(len(body)) + body


class StreamReader:
    """Reads frames from an async iterator of body chunks, handing out data without copying."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        """Wrap a body iterator."""
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    async def _fill(self) -> bool:
        while self._pos >= len(self._buf):
            try:
                self._buf = await anext(self._chunks)
            except StopAsyncIteration:
                return False
            self._pos = 0
        return True

    async def at_eof(self) -> bool:
        """True when the body is exhausted."""
        return not await self._fill()

    async def read_some(self, n: int) -> memoryview:
        """Between 1 and n bytes; EOFError if the body ended."""
        if not await self._fill():
            raise EOFError("bundle truncated")
        end = min(len(self._buf), self._pos + n)
        view = memoryview(self._buf)[self._pos : end]
        self._pos = end
        return view

    async def read_exact(self, n: int) -> bytes:
        """Exactly n bytes; EOFError if the body ended."""
        parts = []
        while n:
            part = await self.read_some(n)
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    async def header(self) -> FrameHeader | None:
        """The next frame's header, or None at the end of the bundle."""
        if await self.at_eof():
            return None
        (length,) = _LEN.unpack(await self.read_exact(_LEN.size))
        if length > 1 << 16:
            raise ValueError("frame header too large")
        raw = json.loads(await self.read_exact(length))
        return FrameHeader(raw["b"], raw["n"], int(raw["s"]), raw["c"], int(raw["v"]), int(raw["bv"]))
