"""Whether this node is refilling: it started on an empty volume while the map says it holds data.

A node whose volume was wiped or replaced (the same node id, a new empty disk) starts without a saved map and
finds, in the map it is given, that it entered the map before its process started: it was a member with data.
Its "I have nothing" is then no answer: until the cluster settled on a rebalance that began after it came back
(the operator starts one when it reports `refill_after`), its look-ups count as unsure and it serves nothing
without asking the others.
A new node joining enters the map after it started, so it is not refilling: the join's rebalance fills
it like any other. Kept in the state dir, so a restart while refilling goes on refilling.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from storage_node import fileio
from storage_node.schemas import ClusterMap, rebalance_number

log = logging.getLogger(__name__)


class Refill:
    """The rebalance number after which this node is filled again (None: it is not refilling), persisted."""

    def __init__(self, path: Path) -> None:
        """Bind to the file that keeps it (loaded by `load`)."""
        self._path = path
        self.after: int | None = None
        self._empty_start: float | None = None  # when this process started without a saved map

    def load(self, *, saved_map: bool) -> None:
        """Read what was persisted; `saved_map`: whether the state dir held a map (False: an empty start)."""
        raw = fileio.read_json(self._path)
        if isinstance(raw, dict) and isinstance(raw.get("after"), int):
            self.after = raw["after"]
        if not saved_map:
            self._empty_start = time.time()

    def first_map(self, node_id: str, cmap: ClusterMap) -> None:
        """Judge the first map an empty start is given: naming it as a member since before it started, it was wiped."""
        started, self._empty_start = self._empty_start, None
        entry = cmap.nodes.get(node_id)
        if started is None or self.after is not None or entry is None:
            return
        if entry.since is not None and entry.since < started:
            self.after = rebalance_number(cmap.rebalance_id)
            fileio.write_json(self._path, {"after": self.after}, fsync=True)
            log.warning(
                "started on an empty volume while map v%d has this node as a member since before this process: "
                "refilling from the other holders after rebalance %d",
                cmap.version,
                self.after,
            )

    def settled_on(self, cmap: ClusterMap) -> None:
        """The cluster settled on `cmap`'s rebalance: filled if that rebalance began after the refill did."""
        if self.after is not None and rebalance_number(cmap.rebalance_id) > self.after:
            log.info("refilled: the cluster settled on rebalance %s", cmap.rebalance_id)
            self.clear()

    def clear(self) -> None:
        """Not refilling (filled, or node cleanup)."""
        self.after = None
        self._path.unlink(missing_ok=True)
