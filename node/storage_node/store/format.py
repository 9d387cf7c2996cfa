"""The on-disk object format: file header, name digest, object paths and header parsing (no state)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mmh3

from storage_node import names, roots, strict

MAGIC = b"FRY1"
HEAD = struct.Struct(">4sI")  # magic + length of the JSON header that follows


@dataclass(slots=True)
class ObjMeta:
    """One stored object: identity, size, checksum, version and the mountpath holding it."""

    bucket: str
    name: str
    size: int
    cksum: str
    version: int
    mountpath: str

    def header(self) -> bytes:
        """The file header for this object."""
        body = json.dumps(
            {"b": self.bucket, "n": self.name, "s": self.size, "c": self.cksum, "v": self.version},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return HEAD.pack(MAGIC, len(body)) + body


def digest(name: str) -> str:
    """File name of an object name."""
    return bytes(mmh3.mmh3_x64_128_digest(name.encode())).hex()


def path_of(mountpath: str, bucket: str, name: str) -> Path:
    """The file of an object on a mountpath."""
    d = digest(name)
    return roots.under(mountpath, "ferry", "objs", bucket, d[:2], d)


def read_header(fh: object) -> tuple[ObjMeta, int] | None:
    """Parse the header of an open object file; (meta without mountpath, data offset) or None."""
    read = fh.read  # type: ignore[attr-defined]
    head = read(HEAD.size)
    if len(head) != HEAD.size:
        return None
    magic, length = HEAD.unpack(head)
    if magic != MAGIC or length > 1 << 16:
        return None
    raw = json.loads(read(length))
    if not isinstance(raw, dict):
        return None
    bucket, name, size, cksum, version = raw.get("b"), raw.get("n"), raw.get("s"), raw.get("c"), raw.get("v")
    if not (isinstance(bucket, str) and _valid_bucket(bucket) and isinstance(name, str) and _valid_object(name)):
        return None
    if not (isinstance(cksum, str) and strict.is_version(version) and strict.is_count(size)):
        return None
    assert isinstance(size, int) and isinstance(version, int)
    return ObjMeta(bucket, name, size, cksum, version, ""), HEAD.size + length


def _valid_bucket(bucket: str) -> bool:
    return _passes(names.check_bucket, bucket)


def _valid_object(name: str) -> bool:
    return _passes(names.check_object, name)


def _passes(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except names.InvalidName:
        return False
    return True
