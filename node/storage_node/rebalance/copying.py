"""Rebalance planning for K copies: which copy goes to which holder, which may go, which is stale (pure, no I/O).

Every object belongs on its holders, the first K nodes of its HRW ranking (`maps.Placement.holders`). Each
node plans from its own copies and from what the other holders said they hold (`Held`, asked in batches):

- a holder's copy is **covered** by another holder that has the same version with the same checksum, a newer
  version, or a tombstone at least as new;
- a node that is a holder sends its copy to the holders not covering it only if no holder ranked above it
  covers it (that one sends): one sender for each object, the highest-ranked that has it;
- a node that is not a holder sends its copy to every holder not covering it, and drops it once every holder
  covers it (the holders then hold verified copies: invariant "copies beyond K go only after the proper holders
  have theirs");
- a copy older than a tombstone a holder keeps is stale: the delete it missed is applied here;
- a copy older than another holder's copy is behind: it is not sent anywhere (the newer one is, by its holder);
- a holder that could not say (`unknown`) is neither sent to nor counted on: its copies wait for its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from storage_node.maps import Placement
from storage_node.rebalance.planning import Item


class Copy(Item, Protocol):
    """What planning needs to know about a local copy."""

    @property
    def version(self) -> int:
        """Its version."""

    @property
    def cksum(self) -> str:
        """Its checksum."""


T = TypeVar("T", bound=Copy)


@dataclass(frozen=True, slots=True)
class Held:
    """What a holder said of one object: its copy's version and checksum (0, "": none) and its tombstone (0: none)."""

    version: int
    cksum: str
    tomb: int = 0


def covers(held: Held | None, copy: Copy) -> bool:
    """Whether the holder's answer makes this copy needless there."""
    if held is None:
        return False
    if held.tomb >= copy.version or held.version > copy.version:
        return True
    return held.version == copy.version and held.cksum == copy.cksum


@dataclass
class CopyPlan(Generic[T]):
    """One pass: copies to send by holder, copies to drop, stale copies (with the tombstone that outdates them)."""

    sends: dict[str, list[T]] = field(default_factory=dict)
    drops: list[T] = field(default_factory=list)
    stale: list[tuple[T, int]] = field(default_factory=list)
    waiting: int = 0  # copies that wait for a holder that could not say
    behind: int = 0  # copies here older than a holder's (that holder sends the newer one)


Answers = Mapping[str, Mapping[tuple[str, str], Held]]  # holder id -> (bucket, name) -> what it said


def holders_to_ask(objects: Iterable[T], placement: Placement, self_id: str) -> dict[str, dict[str, list[str]]]:
    """The other holders of each local copy, by holder and bucket: the names to ask each of them about."""
    asks: dict[str, dict[str, list[str]]] = {}
    for obj in objects:
        for holder in placement.holders(obj.bucket, obj.name):
            if holder.id != self_id:
                asks.setdefault(holder.id, {}).setdefault(obj.bucket, []).append(obj.name)
    return asks


def plan(objects: Iterable[T], placement: Placement, self_id: str, answers: Answers, unknown: set[str]) -> CopyPlan[T]:
    """This node's part of restoring "each object on exactly its K holders" (see the module's docstring)."""
    out: CopyPlan[T] = CopyPlan()
    for obj in objects:
        holders = [h.id for h in placement.holders(obj.bucket, obj.name)]
        if not holders:
            continue
        said = {h: answers.get(h, {}).get((obj.bucket, obj.name)) for h in holders if h != self_id}
        tomb = max((s.tomb for s in said.values() if s is not None), default=0)
        if tomb > obj.version:
            out.stale.append((obj, tomb))
            continue
        newer = max((s.version for s in said.values() if s is not None), default=0) > obj.version
        missing = [h for h in said if h not in unknown and not covers(said[h], obj)]
        if self_id in holders:
            if newer:
                out.behind += 1  # a holder has a newer copy: it is the one that sends (to this one too, in time)
                continue
            first = next(h for h in holders if h == self_id or (h not in unknown and covers(said[h], obj)))
            if first != self_id:
                continue
        elif not missing:
            if any(h in unknown for h in said):
                out.waiting += 1
            else:
                out.drops.append(obj)
            continue
        elif newer:
            continue  # the holder with the newer copy sends it; this older one goes once every holder has one
        for h in missing:
            out.sends.setdefault(h, []).append(obj)
        out.waiting += sum(1 for h in said if h in unknown)
    return out
