"""How many reachable copies objects have while nodes are down: the estimate of objects below K (pure).

Each object has a copy on each of the first K nodes of its HRW ranking over the nodes eligible for placement
(no map flag), or one a node when fewer are eligible (``Estimate.held``; K larger than that is reported as
InsufficientNodes, not counted here). The operator lists no objects: it estimates, from the object count each
node last reported (`status.objects`), how many objects have fewer than K reachable copies:

- a node that should serve and does not (phase Unavailable) counts every object it last reported;
- a node given up (map flag ``lost``) counts them too while the rebalance that re-creates its copies on the
  others runs, and no more once that is over: its count from the last report (``Seen.before``) is 0 then, and
  a later rebalance does not bring it back;
- any other node counts 0.

The cluster's figure is the sum over the nodes: an upper bound, as an object held by two such nodes is counted
once for each. The count of a node is its own: its objects have one copy fewer (``Estimate.reachable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storage_node.schemas import ClusterMap, NodeFlag


@dataclass(frozen=True)
class Seen:
    """One node as the report sees it."""

    objects: int | None  # the objects it last reported (None: it never reported)
    unavailable: bool  # it should serve and does not (phase Unavailable)
    before: int | None  # its objects below K in the last report (`status.objectsBelowCopies`)


@dataclass(frozen=True)
class Estimate:
    """Objects with fewer than K reachable copies, by node, and how many copies each node's objects have."""

    copies: int  # K, as the map asks
    held: int  # copies an object gets: K, or the nodes eligible for placement when fewer
    below: Mapping[str, int]  # each map member: its objects with fewer than K reachable copies
    reachable: Mapping[str, str]  # each node in placement or given up: "reachable/K" copies of its objects

    @property
    def total(self) -> int:
        """Objects with fewer than K reachable copies in the cluster (an upper bound: see the module)."""
        return sum(self.below.values())

    @property
    def short(self) -> bool:
        """Whether fewer nodes are eligible for placement than K asks (InsufficientNodes)."""
        return self.held < self.copies

    def down(self) -> tuple[str, ...]:
        """The nodes whose objects are counted, by name."""
        return tuple(sorted(n for n, k in self.below.items() if k > 0))


def estimate(smap: ClusterMap, nodes: Mapping[str, Seen], *, rebuilding: bool) -> Estimate:
    """The estimate for the map's members as `nodes` see them (`rebuilding`: a global rebalance runs)."""
    eligible = sum(1 for e in smap.nodes.values() if not e.flags)
    held = min(smap.copies, eligible)
    below: dict[str, int] = {}
    reachable: dict[str, str] = {}
    for name, entry in sorted(smap.nodes.items()):
        seen = nodes.get(name)
        if seen is None:
            continue
        lost = NodeFlag.lost in entry.flags
        # given up: counted while its copies are being re-created; else while it is unavailable
        counted = (rebuilding and seen.before != 0) if lost else seen.unavailable
        below[name] = (seen.objects or 0) if counted else 0
        if lost or not entry.flags:
            reach = max(held - 1, 0) if counted else held
            reachable[name] = f"{reach}/{smap.copies}"
    return Estimate(copies=smap.copies, held=held, below=below, reachable=reachable)
