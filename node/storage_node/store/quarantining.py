"""Quarantining copies that failed their checksum: out of the index, their file in the trash, their version kept.

A copy in quarantine is never served or reported again (listings, holdings and the rebalance see the index
only). Its file stays in ``<mountpath>/ferry/trash/`` for inspection until the node next starts (loading
empties the trash). The version of each copy put there is remembered (in memory, the oldest forgotten first)
so a read that finds no good copy anywhere can say the object was corrupt rather than missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import OrderedDict

from storage_node import roots
from storage_node.store.format import ObjMeta, path_of
from storage_node.store.index import Index

log = logging.getLogger(__name__)

MEMORY = 100_000  # how many quarantined copies a node remembers (name -> version)


class CorruptCopy(Exception):
    """A local copy failed its checksum; the store took it out of service (it is never served again)."""

    def __init__(self, meta: ObjMeta) -> None:
        """Name the copy."""
        super().__init__(
            f"{meta.bucket}/{meta.name} v{meta.version} on {meta.mountpath} does not match its checksum {meta.cksum}"
        )
        self.meta = meta


class Quarantine:
    """The copies of this node found corrupt (name -> version), most recent last."""

    def __init__(self, index: Index) -> None:
        """Nothing in quarantine yet; copies are taken out of `index`."""
        self._index = index
        self._bad: OrderedDict[tuple[str, str], int] = OrderedDict()

    def put(self, meta: ObjMeta) -> bool:
        """Take a copy found corrupt out of service, if the index still holds exactly it (else it was replaced).

        Synchronous, on the event loop: the index entry is `meta` only while no install, delete or resilver
        replaced the file at its path, so the file moved aside is the one that was checked.
        """
        if self._index.get(meta.bucket, meta.name) is not meta:
            return False
        self._index.remove(meta)
        path = path_of(meta.mountpath, meta.bucket, meta.name)
        aside = roots.under(meta.mountpath, "ferry", "trash", f"corrupt.{meta.bucket}.{path.name}.v{meta.version}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not move the corrupt %s aside (%s): removing it", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
        key = (meta.bucket, meta.name)
        self._bad[key] = max(meta.version, self._bad.get(key, 0))
        self._bad.move_to_end(key)
        while len(self._bad) > MEMORY:
            self._bad.popitem(last=False)
        return True

    def version(self, bucket: str, name: str) -> int | None:
        """The newest version of this object taken out of service here, if any (older or newer than what is here)."""
        return self._bad.get((bucket, name))

    def forget_bucket(self, bucket: str) -> None:
        """Forget the copies of a dropped bucket (it may come back, without them)."""
        for key in [k for k in self._bad if k[0] == bucket]:
            del self._bad[key]

    def clear(self) -> None:
        """Forget every copy (the node's objects were all removed)."""
        self._bad.clear()
