"""Cluster-map rules: ordering, eligibility and placement over a map; pure, no I/O."""

from __future__ import annotations

from storage_node import hrw
from storage_node.schemas import ClusterMap, NodeEntry, rebalance_number


class MapConflict(ValueError):
    """A map that cannot be installed over the current one (maps to HTTP 409)."""


def check_install(current: ClusterMap | None, new: ClusterMap) -> bool:
    """Whether `new` must be installed over `current`: False if identical, MapConflict if older/different."""
    if current is None or new.version > current.version:
        if current is not None and rebalance_number(new.rebalance_id) < rebalance_number(current.rebalance_id):
            raise MapConflict(
                f"map v{new.version} carries rebalance id {new.rebalance_id} older than {current.rebalance_id}"
            )
        return True
    if new.version < current.version:
        raise MapConflict(f"map version {new.version} is older than the installed {current.version}")
    if new != current:
        raise MapConflict(f"map version {new.version} is already installed with different content")
    return False


def eligible_ids(cmap: ClusterMap) -> list[str]:
    """Ids of the nodes eligible for placement (no flags), sorted."""
    return sorted(node.id for node in cmap.nodes.values() if node.eligible)


def object_key(bucket: str, name: str) -> str:
    """The HRW key of an object (bucket names never contain '/')."""
    return f"{bucket}/{name}"


class Placement:
    """Fast proper-node lookups over one map."""

    def __init__(self, cmap: ClusterMap) -> None:
        """Prepare the HRW ring over the eligible nodes of `cmap`."""
        self.map = cmap
        self._ring = hrw.Ring(eligible_ids(cmap))

    @property
    def empty(self) -> bool:
        """True if no node is eligible (nothing can be placed)."""
        return not self._ring.candidates

    def owner(self, bucket: str, name: str) -> NodeEntry:
        """The proper node of an object (its primary: the first of its holders)."""
        return self.map.nodes[self._ring.winner(object_key(bucket, name))]

    def holders(self, bucket: str, name: str) -> list[NodeEntry]:
        """The nodes that hold an object's copies, primary first: the first `copies` of its HRW ranking.

        Fewer than `copies` when fewer nodes are eligible; none when no node is.
        """
        return [self.map.nodes[i] for i in self._ring.top(object_key(bucket, name), self.map.copies)]

    def ranked(self, bucket: str, name: str) -> list[NodeEntry]:
        """Every eligible node in the object's HRW order (its holders first, then where a copy goes next)."""
        key = object_key(bucket, name)
        return [self.map.nodes[i] for i in self._ring.top(key, len(self._ring.candidates))]

    def others(self, self_id: str) -> list[NodeEntry]:
        """Every node of the map except `self_id`, flagged ones included."""
        return [n for nid, n in sorted(self.map.nodes.items()) if nid != self_id]
