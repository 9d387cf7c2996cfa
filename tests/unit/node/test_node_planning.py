"""Rebalance planning: exactly the objects whose HRW winner changed, batched."""

from __future__ import annotations

from dataclasses import dataclass

from storage_node import maps
from storage_node.rebalance import planning
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag


@dataclass(frozen=True)
class Obj:
    bucket: str
    name: str
    size: int


def make_map(version: int, ids: list[str], flags: dict[str, list[NodeFlag]] | None = None) -> ClusterMap:
    flags = flags or {}
    return ClusterMap(
        version=version,
        rebalance_id=f"g{version}",
        nodes={n: NodeEntry(id=n, url=f"http://127.0.0.{i + 1}:1", flags=flags.get(n, [])) for i, n in enumerate(ids)},
    )


OBJS = [Obj("b", f"o{i}", i % 7) for i in range(6000)]


def holdings(placement: maps.Placement) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for o in OBJS:
        out.setdefault(placement.owner(o.bucket, o.name).id, []).append(o)
    return out


def test_nothing_moves_when_map_unchanged() -> None:
    p = maps.Placement(make_map(1, ["a", "b", "c"]))
    for node, objs in holdings(p).items():
        assert planning.misplaced(objs, p, node) == {}


def test_maintenance_moves_exactly_the_flagged_nodes_objects() -> None:
    old = maps.Placement(make_map(1, ["a", "b", "c", "d"]))
    new = maps.Placement(make_map(2, ["a", "b", "c", "d"], {"d": [NodeFlag.maintenance]}))
    held = holdings(old)
    for node in "abc":
        assert planning.misplaced(held[node], new, node) == {}
    plan = planning.misplaced(held["d"], new, "d")
    assert sum(len(v) for v in plan.values()) == len(held["d"])
    assert set(plan) <= {"a", "b", "c"}
    for dest, objs in plan.items():
        assert all(new.owner(o.bucket, o.name).id == dest for o in objs)


def test_join_moves_only_what_the_new_node_wins() -> None:
    old = maps.Placement(make_map(1, ["a", "b", "c"]))
    new = maps.Placement(make_map(2, ["a", "b", "c", "e"]))
    held = holdings(old)
    moved = []
    for node in "abc":
        plan = planning.misplaced(held[node], new, node)
        assert set(plan) <= {"e"}
        moved += plan.get("e", [])
    assert sorted(o.name for o in moved) == sorted(o.name for o in OBJS if new.owner(o.bucket, o.name).id == "e")


def test_no_eligible_node_means_no_plan() -> None:
    flags = {n: [NodeFlag.maintenance] for n in "ab"}
    p = maps.Placement(make_map(1, ["a", "b"], flags))
    assert planning.misplaced(OBJS, p, "a") == {}


def test_batches_respect_limits_and_keep_everything() -> None:
    items = [Obj("b", str(i), 100) for i in range(250)]
    got = list(planning.batches(items, max_objects=40, max_bytes=1000))
    assert [o for b in got for o in b] == items
    assert all(1 <= len(b) <= 10 for b in got)
    big = [Obj("b", "x", 5000), Obj("b", "y", 1)]
    assert list(planning.batches(big, 10, 1000)) == [[big[0]], [big[1]]]
    assert planning.totals({"a": items}) == (250, 25000)
