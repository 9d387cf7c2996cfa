"""Writing an object: the temp file on its target mountpath (`Tmp`) and what a full filesystem raises."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from storage_node import fileio
from storage_node.store.format import HEAD, MAGIC, ObjMeta

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def out_of_space(exc: BaseException) -> bool:
    """Whether an error says the filesystem (or the user's quota on it) is full."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


class NoSpace(Exception):
    """A mountpath ran out of space while an object was written: the write left nothing behind (HTTP 507)."""

    def __init__(self, mountpath: str, exc: OSError) -> None:
        """Name the full mountpath."""
        super().__init__(f"no space left on mountpath {mountpath} ({exc.strerror or exc})")
        self.mountpath = mountpath


_SMALL = 1 << 20
_RESERVE = 4096  # header space of a streamed (large) object; names <= 1 KiB always fit


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of `data`: a filesystem filling up writes short first, then fails (ENOSPC) on the next write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Target(Protocol):
    """What a temp file needs of its store: the object's mountpath, and whether to fsync (read when it finishes)."""

    fsync: bool

    def proper_mountpath(self, bucket: str, name: str) -> str:
        """The HRW mountpath of an object on this node."""
        ...


class Tmp:
    """An object being written: a temp file on its target mountpath plus a running checksum."""

    def __init__(
        self, store: Target, bucket: str, name: str, size_hint: int = 0, header: ObjMeta | None = None
    ) -> None:
        """Open the temp file (objects known to be large are streamed from the start).

        With `header` (a migrating copy: size, checksum and version are known before the data), the final
        header is written first and every piece of data goes straight to the file; `finish` then only
        closes it, after the caller verified the checksum and size against that header.
        """
        self.store = store
        self.bucket = bucket
        self.name = name
        self.mountpath = store.proper_mountpath(bucket, name)
        self.path = Path(self.mountpath, "ferry", "tmp", uuid.uuid4().hex)
        try:
            self._fh = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed by finish/abort
        except OSError as exc:
            if out_of_space(exc):
                raise NoSpace(self.mountpath, exc) from exc
            raise
        self._fd = self._fh.fileno()
        self.hasher = fileio.Hasher()
        self.size = 0
        self._chunks: list[bytes] = []
        self._known = header
        self._streaming = size_hint > _SMALL or header is not None
        with self.writing():
            if header is not None:
                header.mountpath = self.mountpath
                _write_all(self._fd, header.header())
            elif self._streaming:
                _write_all(self._fd, b"\0" * _RESERVE)

    @property
    def known(self) -> ObjMeta | None:
        """The header of a migrating copy, given before its data (None for a client write)."""
        return self._known

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write: any OSError drops the temp file; a full filesystem raises `NoSpace`."""
        try:
            yield
        except OSError as exc:
            self.abort()
            if out_of_space(exc):
                raise NoSpace(self.mountpath, exc) from exc
            raise

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append data: small objects are buffered (header and data in one write), large ones streamed."""
        self.hasher.update(data)
        self.size += len(data)
        with self.writing():
            if self._known is not None:
                _write_all(self._fd, data)
                return
            if not self._streaming:
                if self.size <= _SMALL:
                    self._chunks.append(bytes(data))
                    return
                self._streaming = True
                _write_all(self._fd, b"".join([b"\0" * _RESERVE, *self._chunks]))
                self._chunks = []
            _write_all(self._fd, data)

    def abort(self) -> None:
        """Drop the temp file."""
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def finish(self, version: int, cksum: str) -> ObjMeta:
        """Write the header, optionally fsync, close; the meta of the finished temp object.

        ValueError if a migrating copy does not match its header; `NoSpace` (the temp file dropped) if the
        filesystem is full.
        """
        with self.writing():
            return self._finish(version, cksum)

    def _finish(self, version: int, cksum: str) -> ObjMeta:
        known = self._known
        if known is not None:
            if (known.size, known.cksum, known.version) != (self.size, cksum, version):
                raise ValueError("migrating copy does not match its header")
            if self.store.fsync:
                os.fsync(self._fd)
            self._fh.close()
            return known
        meta = ObjMeta(self.bucket, self.name, self.size, cksum, version, self.mountpath)
        header = meta.header()
        if self._streaming:
            body = header[HEAD.size :]
            room = _RESERVE - HEAD.size
            if len(body) > room:
                raise ValueError("object header too large")
            os.pwrite(self._fh.fileno(), HEAD.pack(MAGIC, room) + body + b" " * (room - len(body)), 0)
        else:
            _write_all(self._fd, b"".join([header, *self._chunks]))
            self._chunks = []
        if self.store.fsync:
            os.fsync(self._fh.fileno())
        self._fh.close()
        return meta
