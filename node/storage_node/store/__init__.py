"""Object store on the node's mountpaths: atomic writes, in-memory index, tombstones, resilver.

On-disk layout (never derived from user text, so no name can escape):
``<mountpath>/ferry/objs/<bucket>/<hh>/<digest>`` where digest = mmh3-128 of the object name; each file is
``b"FRY1" + u32 header length + JSON header {b, n, s, c, v} + data``. Writes go to
``<mountpath>/ferry/tmp/`` and are renamed into place, so readers see a whole object or none.
Tombstones live in ``<state>/tombs/<bucket>/<digest>``. All index changes happen synchronously on the
event loop, so a check-then-install is atomic with respect to every other request.

Reads served to clients are checked against the copy's checksum; a copy that fails it is quarantined
(`quarantining`): out of the index, never served, and remembered so a read can say "corrupt", not "missing".

`Store` composes the roles, one module each (import contract ``node-store-layers``):
``loading | resilvering | installing | deletions | dropping | quarantining`` (what changes the store as a whole) >
``handover`` (copies handed to a peer) > ``index | tombstones | placement | writing | reading`` >
``format`` (the file header, the name digest and the object paths; no state).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from storage_node import fileio
from storage_node.store import deletions, dropping, installing, loading, reading, resilvering
from storage_node.store.deletions import Deletion, found_live
from storage_node.store.format import MAGIC, ObjMeta, digest, path_of, read_header
from storage_node.store.handover import MOVED_MEMORY, HandOvers
from storage_node.store.index import Index
from storage_node.store.installing import Verdict
from storage_node.store.placement import Placement
from storage_node.store.quarantining import CorruptCopy, Quarantine
from storage_node.store.tombstones import Tombstones
from storage_node.store.writing import NoSpace, Tmp, out_of_space

APPLIED_KEPT = 4096  # the last deletes of a given version applied here, remembered for a sender's retry
OFF_LOOP_BYTES = 256 << 10  # a client write longer than this is finished in a thread (with fsync on, every one)

__all__ = [
    "MAGIC",
    "MOVED_MEMORY",
    "CorruptCopy",
    "Deletion",
    "NoSpace",
    "ObjMeta",
    "Store",
    "Tmp",
    "Verdict",
    "digest",
    "found_live",
    "out_of_space",
    "read_header",
]


class Store:
    """Objects of every bucket on this node's mountpaths, with their index and tombstones."""

    def __init__(self, mountpaths: list[str], state_dir: Path, *, fsync: bool) -> None:
        """Bind to mountpaths and the state dir; call `load()` before use."""
        self._placement = Placement(mountpaths)
        self.mountpaths = self._placement.current
        self.state_dir = state_dir
        self.fsync = fsync  # read at every write: the node changes it when its settings change
        self._applied: OrderedDict[tuple[str, str, int | None], Deletion] = OrderedDict()
        self._index = Index()
        self._tombs = Tombstones(state_dir)
        self._handovers = HandOvers(self._index, self._tombs)
        self._quarantine = Quarantine(self._index)

    @property
    def total_bytes(self) -> int:
        """Bytes of every local object."""
        return self._index.total_bytes

    @property
    def total_objects(self) -> int:
        """Number of local objects."""
        return self._index.total_objects

    @property
    def moved_out(self) -> int:
        """Copies removed after a peer took them (listings use it to detect races)."""
        return self._handovers.moved_out

    @property
    def _legacy(self) -> list[str]:
        """Previously configured mountpaths still holding objects (until the next resilver)."""
        return self._placement.legacy

    # ---- paths -------------------------------------------------------------------------------------

    def proper_mountpath(self, bucket: str, name: str) -> str:
        """The HRW mountpath of an object on this node."""
        return self._placement.proper(bucket, name)

    @staticmethod
    def path_of(mountpath: str, bucket: str, name: str) -> Path:
        """The file of an object on a mountpath."""
        return path_of(mountpath, bucket, name)

    # ---- loading -----------------------------------------------------------------------------------

    def load(self) -> None:
        """Scan mountpaths (current and previously configured ones still on disk) and tombstones."""
        loading.load(self._placement, self.state_dir, self._index, self._tombs)

    # ---- index -------------------------------------------------------------------------------------

    def get(self, bucket: str, name: str) -> ObjMeta | None:
        """The local object, if any."""
        return self._index.get(bucket, name)

    def tombstone(self, bucket: str, name: str) -> int | None:
        """Version of the local tombstone of a deleted object, if any."""
        return self._tombs.get(bucket, name)

    def snapshot(self) -> list[ObjMeta]:
        """All local objects at this instant."""
        return self._index.snapshot()

    def objects_of(self, bucket: str) -> dict[str, ObjMeta]:
        """The local objects of one bucket (live view, do not mutate)."""
        return self._index.objects_of(bucket)

    def tombs_of(self, bucket: str) -> dict[str, int]:
        """The local tombstones of one bucket (live view, do not mutate)."""
        return self._tombs.of(bucket)

    # ---- reading -----------------------------------------------------------------------------------

    def open(self, meta: ObjMeta) -> tuple[int, int] | None:
        """Open an object's file: (fd, data offset), or None if it vanished or was replaced."""
        return reading.open_object(meta)

    def open_exact(self, meta: ObjMeta) -> tuple[int, int] | None:
        """Open an object's file only if it still holds `meta`'s version: (fd, data offset), or None."""
        return reading.open_exact(meta)

    def read_all(self, meta: ObjMeta) -> bytes | None:
        """Whole content of a (small) object, or None if it vanished (not checked: see `read_checked`)."""
        return reading.read_all(meta)

    def read_checked(self, meta: ObjMeta) -> bytes | None:
        """Whole content of a (small) object, checked against its checksum; None if it vanished or was replaced.

        CorruptCopy if it fails the check: the copy is quarantined first (never served again).
        """
        try:
            return reading.read_checked(meta)
        except reading.Mismatch:
            self._found_corrupt(meta)
            return None

    async def open_checked(self, meta: ObjMeta) -> tuple[int, int] | None:
        """`open`, with all the data checked against its checksum first (off the event loop): (fd, data offset).

        None if it vanished or was replaced meanwhile; CorruptCopy if it fails the check (quarantined first).
        """
        checking = asyncio.ensure_future(asyncio.to_thread(reading.open_checked, meta))
        try:
            opened = await asyncio.shield(checking)
        except asyncio.CancelledError:  # the request went away: the descriptor is closed once the check is done
            checking.add_done_callback(_close_opened)
            raise
        except reading.Mismatch:
            self._found_corrupt(meta)
            return None
        return opened

    def _found_corrupt(self, meta: ObjMeta) -> None:
        """Quarantine a copy that failed its check and raise CorruptCopy (nothing if it was replaced meanwhile)."""
        if self._quarantine.put(meta):
            raise CorruptCopy(meta)

    def quarantined(self, bucket: str, name: str) -> int | None:
        """The newest version of this object found corrupt here and taken out of service, if any."""
        return self._quarantine.version(bucket, name)

    # ---- writing -----------------------------------------------------------------------------------

    def begin(self, bucket: str, name: str, size_hint: int = 0) -> Tmp:
        """Start writing an object; finish with `commit_client` / `commit_migrating` or `Tmp.abort`."""
        return Tmp(self, bucket, name, size_hint)

    def begin_migrating(self, bucket: str, name: str, size: int, version: int, cksum: str) -> Tmp:
        """Start writing a migrating copy whose header is known up front (data streams straight to disk)."""
        return Tmp(self, bucket, name, size, ObjMeta(bucket, name, size, cksum, version, ""))

    async def commit_client_async(self, tmp: Tmp, expected_cksum: str | None = None) -> ObjMeta:
        """`commit_client` with the blocking part (the last write, fsync, close) off the event loop when it is long.

        Long: a write over `OFF_LOOP_BYTES`, or any write with fsync on. The rename into place and the index
        change stay on the loop, in one step with the check that no newer version arrived meanwhile.
        """
        version, cksum = installing.seal_client(tmp, expected_cksum)
        fsync = self.fsync
        if fsync or tmp.size > OFF_LOOP_BYTES:
            finishing = asyncio.ensure_future(asyncio.to_thread(tmp.finish, version, cksum))
            try:
                meta = await asyncio.shield(finishing)
            except asyncio.CancelledError:  # the request went away: its temp file goes once the thread is done
                finishing.add_done_callback(lambda _: tmp.abort())
                raise
        else:
            meta = tmp.finish(version, cksum)
        if installing.install_client(self._index, self._tombs, meta, tmp) and fsync:
            await asyncio.to_thread(fileio.fsync_dir, path_of(meta.mountpath, meta.bucket, meta.name).parent)
        return meta

    def commit_client(self, tmp: Tmp, expected_cksum: str | None = None) -> ObjMeta:
        """Install a client write as the newest version (it always wins).

        ValueError on checksum mismatch; `NoSpace` if the mountpath is full. Either way nothing of the write
        stays behind and the previous version, if any, is untouched.
        """
        return installing.commit_client(self._index, self._tombs, tmp, expected_cksum, fsync=self.fsync)

    def verdict(self, bucket: str, name: str, version: int) -> Verdict:
        """Whether a migrating copy of this version may be installed (bucket checks are the caller's)."""
        return installing.verdict(self._index, self._tombs, bucket, name, version)

    def commit_migrating(self, tmp: Tmp, version: int, cksum: str) -> Verdict:
        """Install a migrated copy unless it is corrupt, something newer is here, or it does not fit (`nospace`)."""
        return installing.commit_migrating(self._index, self._tombs, tmp, version, cksum, fsync=self.fsync)

    # ---- deleting ----------------------------------------------------------------------------------

    def delete(self, bucket: str, name: str, version: int | None = None) -> Deletion:
        """Delete an object, leaving a tombstone so no stale copy comes back; what was here before it.

        A delete of a given version applied again (its sender retried: the first answer was lost) answers what
        the first application found, as long as this process remembers it (the last `APPLIED_KEPT` deletes).
        """
        key = (bucket, name, version)
        if version is not None and (first := self._applied.get(key)) is not None:
            return first
        done = deletions.delete(self._index, self._tombs, self._handovers, bucket, name, version, fsync=self.fsync)
        if version is not None:
            self._applied[key] = done
            if len(self._applied) > APPLIED_KEPT:
                self._applied.popitem(last=False)
        return done

    def handed_over(self, bucket: str, name: str) -> int | None:
        """Version of a copy this node handed to a peer and that no later delete seen here removed, if any."""
        return self._handovers.handed_over(bucket, name)

    def remove_moved(self, bucket: str, name: str, version: int) -> bool:
        """Remove the local copy a peer now holds, only if it is still exactly that version."""
        return self._handovers.remove_moved(bucket, name, version)

    def drop_bucket(self, bucket: str) -> int:
        """Forget a bucket: its objects and tombstones go; the number of objects removed."""
        self._quarantine.forget_bucket(bucket)
        return dropping.drop_bucket(self._placement, self._index, self._tombs, self._handovers, bucket)

    def drop_tombstones(self) -> None:
        """Forget every tombstone (node cleanup)."""
        self._tombs.clear()

    def drop_all(self) -> int:
        """Remove every object from the mountpaths (decommission with user data); the count removed."""
        self._quarantine.clear()
        return dropping.drop_all(self._placement, self._index, self._tombs, self._handovers)

    # ---- resilver ----------------------------------------------------------------------------------

    def misplaced_locally(self) -> Iterator[ObjMeta]:
        """Objects not on their proper local mountpath."""
        return resilvering.misplaced_locally(self._placement, self._index)

    async def resilver(self) -> int:
        """Move every object to its proper mountpath; reads keep working (the index switches atomically)."""
        return await resilvering.resilver(self._placement, self.state_dir, self._index)


def _close_opened(done: asyncio.Future[tuple[int, int] | None]) -> None:
    """Close the descriptor a check opened for a request that went away meanwhile."""
    if not done.cancelled() and done.exception() is None and (opened := done.result()) is not None:
        os.close(opened[0])
