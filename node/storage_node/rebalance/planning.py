"""Rebalance planning: which local objects are misplaced and how to batch them; pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

from storage_node.maps import Placement


class Item(Protocol):
    """What planning needs to know about an object."""

    @property
    def bucket(self) -> str:
        """Bucket name."""

    @property
    def name(self) -> str:
        """Object name."""

    @property
    def size(self) -> int:
        """Size in bytes."""


T = TypeVar("T", bound=Item)


def misplaced(objects: Iterable[T], placement: Placement, self_id: str) -> dict[str, list[T]]:
    """Objects whose proper node is not `self_id`, grouped by proper node id (empty if nowhere to go)."""
    plan: dict[str, list[T]] = {}
    if placement.empty:
        return plan
    for obj in objects:
        owner = placement.owner(obj.bucket, obj.name).id
        if owner != self_id:
            plan.setdefault(owner, []).append(obj)
    return plan


def batches(items: list[T], max_objects: int, max_bytes: int) -> Iterator[list[T]]:
    """Consecutive batches of at most `max_objects` objects and about `max_bytes` bytes (>= 1 object)."""
    batch: list[T] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= max_objects or size + item.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def totals(plan: dict[str, list[T]]) -> tuple[int, int]:
    """(objects, bytes) in a plan."""
    return sum(len(v) for v in plan.values()), sum(o.size for v in plan.values() for o in v)
