"""Small file helpers: atomic replace, durable directory entries, checksums."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import mmh3

CHECKSUM_TYPE = "mmh3-x64-128"


class Hasher:
    """Streaming object checksum (mmh3 x64 128-bit, hex)."""

    def __init__(self) -> None:
        """Start an empty checksum."""
        self._h = mmh3.mmh3_x64_128()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes."""
        self._h.update(data)

    def hexdigest(self) -> str:
        """The checksum of everything added so far."""
        return bytes(self._h.digest()).hex()


def checksum(data: bytes | bytearray | memoryview) -> str:
    """Checksum of a whole buffer."""
    return bytes(mmh3.mmh3_x64_128_digest(data)).hex()


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fsync: bool) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. the filesystem is full: the old content stays, no temp file
        raise
    if fsync:
        fsync_dir(path.parent)


def write_json(path: Path, value: Any, *, fsync: bool) -> None:
    """Atomically write `value` as JSON."""
    write_atomic(path, json.dumps(value, separators=(",", ":")).encode(), fsync=fsync)


def read_json(path: Path) -> Any:
    """Read a JSON file; None if it does not exist."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
