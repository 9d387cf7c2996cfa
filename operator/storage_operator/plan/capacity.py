"""Whether the data of the nodes that leave fits on the nodes that stay, with headroom (pure).

A node that leaves (maintenance, shutdown, decommission) hands all its objects to the nodes that stay. HRW
spreads them evenly, so each staying node takes about an equal share; the departure fits when every staying
node has that share free above its headroom (a percentage of its capacity kept free). Figures come from the
nodes' own reports (`statvfs` of their mountpaths, bytes of objects stored); a departure whose figures are
not all known is not held back (the rebalance itself stalls visibly, and loses nothing, if a node fills up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage_node.schemas import NodeCapacity


@dataclass(frozen=True)
class Space:
    """One node's figures, in bytes: what it stores, and its filesystems' capacity and free space."""

    node: str
    stored: int
    capacity: int
    free: int

    def room(self, headroom_percent: float) -> int:
        """What it can take before its headroom: free space less the share of capacity kept free."""
        return self.free - math.ceil(self.capacity * headroom_percent / 100)


@dataclass(frozen=True)
class Verdict:
    """Whether a departure fits; the figures, said for users, when it does not."""

    fits: bool
    message: str = ""


def departure(leaving: Sequence[Space], staying: Sequence[Space], headroom_percent: float) -> Verdict:
    """Whether what `leaving` store fits on `staying`, each taking an equal share above its headroom."""
    moving = sum(s.stored for s in leaving)
    if moving == 0:
        return Verdict(True)
    names = ", ".join(s.node for s in leaving)
    if not staying:
        return Verdict(False, f"{names} would leave no online node to take its {human(moving)} of objects")
    share = math.ceil(moving / len(staying))
    short = [s for s in staying if s.room(headroom_percent) < share]
    if not short:
        return Verdict(True)
    worst = min(short, key=lambda s: s.room(headroom_percent))
    return Verdict(
        False,
        f"{names} leaving would move {human(moving)} onto {len(staying)} node(s), about {human(share)} each; "
        f"{worst.node} has {human(max(0, worst.room(headroom_percent)))} free above the {headroom_percent:g}% "
        f"headroom ({human(worst.free)} free of {human(worst.capacity)})"
        + (f", and {len(short) - 1} more node(s) are short too" if len(short) > 1 else "")
        + ". Add a node or free space; spec.skipCapacityCheck on the StorageNode goes ahead anyway",
    )


def status_of(c: NodeCapacity) -> dict[str, Any]:
    """A StorageNode's `status.capacity`: the bytes, and free/used as people read them (printer columns)."""
    used_percent = 0 if c.capacity_bytes == 0 else round(100 * c.used_bytes / c.capacity_bytes)
    return {
        "capacityBytes": c.capacity_bytes,
        "usedBytes": c.used_bytes,
        "freeBytes": c.free_bytes,
        "free": human(c.free_bytes),
        "used": f"{used_percent}%",
        "mountpaths": [
            {"path": m.path, "capacityBytes": m.capacity_bytes, "usedBytes": m.used_bytes, "freeBytes": m.free_bytes}
            for m in c.mountpaths
        ],
    }


def human(n: int) -> str:
    """Bytes as `kubectl` users read them (binary units, one decimal)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
