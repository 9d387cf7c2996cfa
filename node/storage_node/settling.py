"""What this node knows of the other nodes' rebalances: who finished which one, hence when the cluster is settled.

A global rebalance g<N> is complete when every node of the map has finished its part of it (invariant 5 of
`rebalance`). Each node announces the end of its part to its peers and answers questions about it; what a
node has heard is merged here (a peer's highest finished rebalance number only grows), persisted in the
state dir, and passed on to nodes that ask (a node that was down, or joined, learns it from any peer).

From it follow two facts the data path needs:
- *settled*: every node of the installed map finished the map's rebalance. Until then an object may sit on
  a node other than its proper one (in flight, or written through a node that still routed by an older map),
  so a read consults the other nodes before it answers, even when it holds a copy or a tombstone.
- *drained*: a flagged node (maintenance, decommission) that finished the map's rebalance holds no object:
  lookups skip it, and its being unreachable (shut down) is no reason to doubt an answer.
"""

from __future__ import annotations

from pathlib import Path

from storage_node import fileio
from storage_node.schemas import ClusterMap, rebalance_number


class Settling:
    """Highest finished rebalance number per node id, persisted."""

    def __init__(self, path: Path) -> None:
        """Bind to the file that keeps it (loaded by `load`)."""
        self._path = path
        self._done: dict[str, int] = {}

    def load(self) -> None:
        """Read what was persisted (nothing: nobody is known to have finished anything)."""
        raw = fileio.read_json(self._path)
        if isinstance(raw, dict):
            self._done = {str(k): int(v) for k, v in raw.items() if isinstance(v, int)}

    def clear(self) -> None:
        """Forget everything (node cleanup)."""
        self._done = {}
        self._path.unlink(missing_ok=True)

    def known(self) -> dict[str, int]:
        """A copy of what is known (node id -> highest finished rebalance number)."""
        return dict(self._done)

    def merge(self, done: dict[str, int]) -> bool:
        """Take in what another node knows; True if it taught this node anything."""
        changed = False
        for node_id, number in done.items():
            if number > self._done.get(node_id, 0):
                self._done[node_id] = number
                changed = True
        if changed:
            fileio.write_json(self._path, self._done, fsync=False)
        return changed

    def finished(self, node_id: str, cmap: ClusterMap) -> bool:
        """Whether `node_id` finished the rebalance of `cmap` (a map without one needs none)."""
        wanted = rebalance_number(cmap.rebalance_id)
        return wanted == 0 or self._done.get(node_id, 0) >= wanted

    def settled(self, cmap: ClusterMap | None) -> bool:
        """Whether every node of the map finished its rebalance: every object is on its proper node."""
        return cmap is not None and all(self.finished(n, cmap) for n in cmap.nodes)

    def drained(self, cmap: ClusterMap | None) -> set[str]:
        """Flagged nodes of the map that finished its rebalance: they hold nothing."""
        if cmap is None:
            return set()
        return {n.id for n in cmap.nodes.values() if n.flags and self.finished(n.id, cmap)}

    def pending(self, cmap: ClusterMap | None) -> list[str]:
        """Nodes of the map not known to have finished its rebalance."""
        if cmap is None:
            return []
        return [n for n in cmap.nodes if not self.finished(n, cmap)]
