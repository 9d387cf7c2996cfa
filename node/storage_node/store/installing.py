"""Installing finished writes: a client write always wins, a migrating copy only if nothing newer is here."""

from __future__ import annotations

import enum
import os

from storage_node import clock, fileio
from storage_node.store.format import ObjMeta, path_of
from storage_node.store.index import Index
from storage_node.store.tombstones import Tombstones
from storage_node.store.writing import NoSpace, Tmp


class Verdict(enum.StrEnum):
    """Outcome of offering a migrating copy to the store."""

    ok = "ok"
    newer = "newer"  # the store has a newer object or tombstone: the copy is stale
    gone = "gone"  # the bucket does not exist (any more) for this copy
    bad = "bad"  # checksum mismatch
    nospace = "nospace"  # the receiver's mountpath is full: nothing installed, the sender keeps its copy


def _install(index: Index, meta: ObjMeta, tmp: Tmp, *, fsync: bool) -> None:
    """Rename the finished temp file into place and index it (`NoSpace` if a new directory does not fit)."""
    path = path_of(meta.mountpath, meta.bucket, meta.name)
    with tmp.writing():
        try:
            os.replace(tmp.path, path)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp.path, path)
    if fsync:
        fileio.fsync_dir(path.parent)
    old = index.get(meta.bucket, meta.name)
    if old is not None and old.mountpath != meta.mountpath:
        path_of(old.mountpath, old.bucket, old.name).unlink(missing_ok=True)
    index.add(meta)


def seal_client(tmp: Tmp, expected_cksum: str | None) -> tuple[int, str]:
    """The version and checksum a finished client write gets (ValueError, the temp file dropped, on a mismatch)."""
    cksum = tmp.hasher.hexdigest()
    if expected_cksum is not None and expected_cksum != cksum:
        tmp.abort()
        raise ValueError("checksum mismatch")
    return clock.next_version(), cksum


def install_client(index: Index, tombs: Tombstones, meta: ObjMeta, tmp: Tmp) -> bool:
    """Install a client write finished off the event loop, unless a newer version arrived meanwhile.

    A newer version (another client's write, or a tombstone, versioned after this one) wins as it would have
    had the two come one after the other: this write is acknowledged and its file dropped (False). The
    directory is not fsynced here (the caller does it off the loop before it acknowledges).
    """
    old, tomb = index.get(meta.bucket, meta.name), tombs.get(meta.bucket, meta.name)
    if (old is not None and old.version > meta.version) or (tomb is not None and tomb > meta.version):
        tmp.abort()
        return False
    _install(index, meta, tmp, fsync=False)
    if tomb is not None and tomb < meta.version:
        tombs.drop(meta.bucket, meta.name)
    return True


def commit_client(
    index: Index, tombs: Tombstones, tmp: Tmp, expected_cksum: str | None = None, *, fsync: bool
) -> ObjMeta:
    """Install a client write as the newest version (it always wins).

    ValueError on checksum mismatch; `NoSpace` if the mountpath is full. Either way nothing of the write
    stays behind and the previous version, if any, is untouched.
    """
    meta = tmp.finish(*seal_client(tmp, expected_cksum))
    if install_client(index, tombs, meta, tmp) and fsync:  # (nothing newer can arrive: no await in between)
        fileio.fsync_dir(path_of(meta.mountpath, meta.bucket, meta.name).parent)
    return meta


def verdict(index: Index, tombs: Tombstones, bucket: str, name: str, version: int) -> Verdict:
    """Whether a migrating copy of this version may be installed (bucket checks are the caller's)."""
    old = index.get(bucket, name)
    if old is not None and old.version >= version:
        return Verdict.newer
    tomb = tombs.get(bucket, name)
    if tomb is not None and tomb >= version:
        return Verdict.newer
    return Verdict.ok


def commit_migrating(index: Index, tombs: Tombstones, tmp: Tmp, version: int, cksum: str, *, fsync: bool) -> Verdict:
    """Install a migrated copy unless it is corrupt, something newer is here, or it does not fit (`nospace`)."""
    if tmp.hasher.hexdigest() != cksum or (tmp.known is not None and tmp.size != tmp.known.size):
        tmp.abort()
        return Verdict.bad
    found = verdict(index, tombs, tmp.bucket, tmp.name, version)
    if found is not Verdict.ok:
        tmp.abort()
        return found
    clock.observe(version)
    try:
        meta = tmp.finish(version, cksum)
        _install(index, meta, tmp, fsync=fsync)
    except NoSpace:
        return Verdict.nospace
    return Verdict.ok
