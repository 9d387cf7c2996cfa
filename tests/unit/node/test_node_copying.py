"""Planning the rebalance of K copies: one sender for each missing copy, drops only once covered, missed deletes."""

from __future__ import annotations

from dataclasses import dataclass

from storage_node import maps
from storage_node.rebalance import copying
from storage_node.schemas import ClusterMap, NodeEntry

IDS = ["n1", "n2", "n3", "n4"]


@dataclass(frozen=True)
class Obj:
    bucket: str
    name: str
    size: int = 10
    version: int = 5
    cksum: str = "c5"


def placement(copies: int = 2) -> maps.Placement:
    nodes = {n: NodeEntry(id=n, url=f"http://127.0.0.{i + 1}:8080") for i, n in enumerate(IDS)}
    return maps.Placement(ClusterMap(version=1, rebalance_id="g1", nodes=nodes, copies=copies))


def holders(p: maps.Placement, obj: Obj) -> list[str]:
    return [e.id for e in p.holders(obj.bucket, obj.name)]


def pick(p: maps.Placement, want: str) -> tuple[Obj, list[str]]:
    """An object and its holders, chosen so that `want` says where this node stands ("primary", "second", "none")."""
    for i in range(1000):
        obj = Obj("b", f"o{i}")
        hs = holders(p, obj)
        if (want == "primary" and hs[0] == "n1") or (want == "second" and hs[1] == "n1") or (
            want == "none" and "n1" not in hs
        ):
            return obj, hs
    raise AssertionError("no such object")


def answer(obj: Obj, version: int = 0, cksum: str = "", tomb: int = 0) -> dict[tuple[str, str], copying.Held]:
    return {(obj.bucket, obj.name): copying.Held(version, cksum, tomb)}


def test_the_primary_sends_its_copy_to_a_holder_that_lacks_it() -> None:
    p = placement()
    obj, hs = pick(p, "primary")
    plan = copying.plan([obj], p, "n1", {hs[1]: answer(obj)}, set())
    assert plan.sends == {hs[1]: [obj]} and not plan.drops and not plan.stale


def test_a_second_holder_leaves_the_send_to_a_primary_that_has_it() -> None:
    p = placement(3)
    obj, hs = pick(p, "second")
    plan = copying.plan([obj], p, "n1", {hs[0]: answer(obj, 5, "c5"), hs[2]: answer(obj)}, set())
    assert plan.sends == {}, "the primary has it and sends to the third holder"
    # the primary lacks it: the second holder is the highest-ranked that has it, and sends to both
    plan = copying.plan([obj], p, "n1", {hs[0]: answer(obj), hs[2]: answer(obj)}, set())
    assert plan.sends == {hs[0]: [obj], hs[2]: [obj]}


def test_the_same_version_with_another_checksum_is_no_copy() -> None:
    p = placement()
    obj, hs = pick(p, "primary")
    plan = copying.plan([obj], p, "n1", {hs[1]: answer(obj, 5, "other")}, set())
    assert plan.sends == {hs[1]: [obj]}


def test_a_node_that_is_no_holder_sends_then_drops_only_once_every_holder_covers_it() -> None:
    p = placement()
    obj, hs = pick(p, "none")
    plan = copying.plan([obj], p, "n1", {hs[0]: answer(obj, 5, "c5"), hs[1]: answer(obj)}, set())
    assert plan.sends == {hs[1]: [obj]} and not plan.drops
    plan = copying.plan([obj], p, "n1", {hs[0]: answer(obj, 5, "c5"), hs[1]: answer(obj, 9, "c9")}, set())
    assert plan.sends == {} and plan.drops == [obj]


def test_a_holder_that_cannot_say_keeps_the_copy_and_gets_nothing() -> None:
    p = placement()
    obj, hs = pick(p, "none")
    plan = copying.plan([obj], p, "n1", {hs[0]: answer(obj, 5, "c5")}, {hs[1]})
    assert plan.sends == {} and plan.drops == [] and plan.waiting == 1


def test_a_copy_older_than_a_holders_tombstone_is_stale() -> None:
    p = placement()
    obj, hs = pick(p, "primary")
    plan = copying.plan([obj], p, "n1", {hs[1]: answer(obj, tomb=7)}, set())
    assert plan.stale == [(obj, 7)] and plan.sends == {}
    # a tombstone older than this copy: the copy is newer than the delete and goes there
    plan = copying.plan([obj], p, "n1", {hs[1]: answer(obj, tomb=3)}, set())
    assert plan.sends == {hs[1]: [obj]} and not plan.stale


def test_one_copy_a_node_plans_nothing_beyond_itself() -> None:
    p = placement(1)
    obj, _ = pick(p, "primary")
    assert copying.holders_to_ask([obj], p, "n1") == {}
    plan = copying.plan([obj], p, "n1", {}, set())
    assert plan.sends == {} and plan.drops == []


def test_the_questions_group_names_by_holder_and_bucket() -> None:
    p = placement(3)
    objs = [Obj("b", f"o{i}") for i in range(50)] + [Obj("c", f"o{i}") for i in range(50)]
    asks = copying.holders_to_ask(objs, p, "n1")
    for obj in objs:
        for h in holders(p, obj):
            if h != "n1":
                assert obj.name in asks[h][obj.bucket]
    assert "n1" not in asks
