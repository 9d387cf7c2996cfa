"""Reading installed object files: a descriptor past the header, or a small object's whole content."""

from __future__ import annotations

import json
import os

from storage_node.store.format import HEAD, MAGIC, ObjMeta, path_of


def open_object(meta: ObjMeta) -> tuple[int, int] | None:
    """Open an object's file: (fd, data offset), or None if it vanished or was replaced."""
    try:
        fd = os.open(path_of(meta.mountpath, meta.bucket, meta.name), os.O_RDONLY)
    except FileNotFoundError:
        return None
    head = os.pread(fd, HEAD.size, 0)
    if len(head) < HEAD.size:  # not an installed object file (those are renamed into place whole)
        os.close(fd)
        return None
    magic, length = HEAD.unpack(head)
    if magic != MAGIC:
        os.close(fd)
        return None
    return fd, HEAD.size + length


def open_exact(meta: ObjMeta) -> tuple[int, int] | None:
    """Open an object's file only if it still holds `meta`'s version: (fd, data offset), or None.

    Files are immutable once installed, so the descriptor keeps that version's bytes even if the object
    is replaced meanwhile (what a rebalance sender needs: it sends exactly the version it planned).
    """
    opened = open_object(meta)
    if opened is None:
        return None
    fd, offset = opened
    try:
        raw = json.loads(os.pread(fd, offset - HEAD.size, HEAD.size))
        if raw.get("v") == meta.version and raw.get("s") == meta.size:
            return fd, offset
    except (ValueError, OSError):
        pass
    os.close(fd)
    return None


def read_all(meta: ObjMeta) -> bytes | None:
    """Whole content of a (small) object, or None if it vanished."""
    opened = open_object(meta)
    if opened is None:
        return None
    fd, offset = opened
    try:
        return os.pread(fd, meta.size, offset)
    finally:
        os.close(fd)
