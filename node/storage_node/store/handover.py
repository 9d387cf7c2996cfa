"""Hand-over memory: the copies this node handed to a peer, so a lookup or delete that meets none in flight knows.

A lookup or delete that meets none of the copies in flight (the receiver had not committed when asked, the
sender had removed its copy when asked) learns from this memory that the object exists and is on its way.
"""

from __future__ import annotations

from collections import OrderedDict

from storage_node.store.format import path_of
from storage_node.store.index import Index
from storage_node.store.tombstones import Tombstones

MOVED_MEMORY = 200_000  # how many handed-over copies a node remembers (name -> version), oldest forgotten first


class HandOvers:
    """Copies handed to a peer (name -> version), most recent last, the oldest forgotten first."""

    def __init__(self, index: Index, tombs: Tombstones) -> None:
        """Remember nothing yet; removals go through `index`, later deletes are seen in `tombs`."""
        self._index = index
        self._tombs = tombs
        self.moved_out = 0  # copies removed after a peer took them (listings use it to detect races)
        self._moved: OrderedDict[tuple[str, str], int] = OrderedDict()

    def handed_over(self, bucket: str, name: str) -> int | None:
        """Version of a copy this node handed to a peer and that no later delete seen here removed, if any."""
        moved = self._moved.get((bucket, name))
        if moved is None:
            return None
        tomb = self._tombs.get(bucket, name)
        return None if tomb is not None and tomb >= moved else moved

    def remove_moved(self, bucket: str, name: str, version: int) -> bool:
        """Remove the local copy a peer now holds, only if it is still exactly that version."""
        old = self._index.get(bucket, name)
        if old is None or old.version != version:
            return False
        self._index.remove(old)
        path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
        self.moved_out += 1
        self._moved[(bucket, name)] = version
        self._moved.move_to_end((bucket, name))
        while len(self._moved) > MOVED_MEMORY:
            self._moved.popitem(last=False)
        return True

    def forget_bucket(self, bucket: str) -> None:
        """Forget the copies of a dropped bucket."""
        for key in [k for k in self._moved if k[0] == bucket]:
            del self._moved[key]
