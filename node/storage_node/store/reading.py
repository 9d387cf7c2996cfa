"""Reading installed object files: a descriptor past the header, or a small object's whole content, checked or not."""

from __future__ import annotations

import json
import os

from storage_node import fileio
from storage_node.store.format import HEAD, MAGIC, ObjMeta, path_of

_PIECE = 4 << 20  # a large copy is checked in pieces of this size


class Mismatch(Exception):
    """The file at a copy's path does not hold the bytes its index entry describes (no header, or other data)."""


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
    return None if opened is None else _read_whole(opened, meta.size)


def read_checked(meta: ObjMeta) -> bytes | None:
    """Whole content of a (small) object, checked against `meta`'s checksum; None if it vanished; Mismatch."""
    opened = _open_or_mismatch(meta)
    if opened is None:
        return None
    data = _read_whole(opened, meta.size)
    if len(data) != meta.size or fileio.checksum(data) != meta.cksum:
        raise Mismatch(f"{meta.bucket}/{meta.name}")
    return data


def open_checked(meta: ObjMeta) -> tuple[int, int] | None:
    """Blocking: open an object's file and check all its data against `meta` first: (fd, data offset); Mismatch.

    The descriptor that was checked is the one returned: installed files are never written in place, so what is
    then sent from it is what was checked. None if the file vanished.
    """
    opened = _open_or_mismatch(meta)
    if opened is None:
        return None
    fd, offset = opened
    try:
        hasher, done = fileio.Hasher(), 0
        while done < meta.size:
            piece = os.pread(fd, min(_PIECE, meta.size - done), offset + done)
            if not piece:
                break
            hasher.update(piece)
            done += len(piece)
        if done != meta.size or hasher.hexdigest() != meta.cksum:
            raise Mismatch(f"{meta.bucket}/{meta.name}")
    except BaseException:
        os.close(fd)
        raise
    return fd, offset


def _open_or_mismatch(meta: ObjMeta) -> tuple[int, int] | None:
    """`open_object`, with a file that is there but has no object header a Mismatch rather than None."""
    try:
        fd = os.open(path_of(meta.mountpath, meta.bucket, meta.name), os.O_RDONLY)
    except FileNotFoundError:
        return None
    head = os.pread(fd, HEAD.size, 0)
    if len(head) < HEAD.size or HEAD.unpack(head)[0] != MAGIC:  # installed files are renamed into place whole
        os.close(fd)
        raise Mismatch(f"{meta.bucket}/{meta.name}: no object header")
    return fd, HEAD.size + HEAD.unpack(head)[1]


def _read_whole(opened: tuple[int, int], size: int) -> bytes:
    """`size` bytes from an opened object's (fd, offset) of its content; the fd is closed."""
    fd, offset = opened
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)
