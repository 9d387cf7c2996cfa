"""Deletions: a tombstone instead of the object, and whether the nodes a delete reached removed a live object."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage_node import clock
from storage_node.store.format import path_of
from storage_node.store.handover import HandOvers
from storage_node.store.index import Index
from storage_node.store.tombstones import Tombstones
from storage_node.store.writing import out_of_space


@dataclass(frozen=True, slots=True)
class Deletion:
    """What one node held of an object when a delete reached it.

    A delete found a live object if some node's copy is newer than every tombstone the nodes held before it:
    a stale copy left behind by a cut hand-over is older than the delete that already removed it elsewhere.
    """

    removed: int | None  # version of the copy removed here (or handed to a peer and not deleted since)
    tomb: int | None  # version of the tombstone that was here before this delete
    unsure: bool = False  # a node refilling after an empty start held nothing: that proves nothing


def found_live(deletions: Iterable[Deletion], own: int | None = None) -> bool:
    """Whether a delete answered by these nodes removed a live object.

    `own`: the version of this delete. A node that shows it as the tombstone it had before got this delete
    already (an earlier try whose answer was lost): that tombstone is this delete's own, not an older one's.
    """
    ds = list(deletions)
    removed = max((d.removed for d in ds if d.removed is not None), default=None)
    tomb = max((d.tomb for d in ds if d.tomb is not None and d.tomb != own), default=0)
    return removed is not None and removed > tomb


def delete(
    index: Index,
    tombs: Tombstones,
    handovers: HandOvers,
    bucket: str,
    name: str,
    version: int | None = None,
    *,
    fsync: bool,
) -> Deletion:
    """Delete an object, leaving a tombstone so no stale copy comes back; what was here before it."""
    version = version if version is not None else clock.next_version()
    clock.observe(version)
    old = index.get(bucket, name)
    tomb = tombs.get(bucket, name)
    in_flight = handovers.handed_over(bucket, name)
    if old is not None and old.version > version:
        return Deletion(old.version, tomb)  # a newer write than this delete is here already
    if tomb is None or tomb < version:
        try:
            tombs.write(bucket, name, version, fsync=fsync)
        except OSError as exc:
            if old is None or not out_of_space(exc):
                raise
            # the volume is full and the node's state shares it: the object's own space makes room for its
            # tombstone (should that still fail, the delete is not acknowledged: the object went only here)
            index.remove(old)
            path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
            tombs.write(bucket, name, version, fsync=fsync)
    if old is None:
        return Deletion(in_flight if in_flight is not None and in_flight < version else None, tomb)
    index.remove(old)
    path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
    return Deletion(old.version, tomb)
