"""Placement of K copies: the first K nodes of each object's HRW ranking, and what a map change moves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from storage_node import hrw, maps
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag

KEYS = [f"obj-{i}" for i in range(3000)]


def cmap(ids: list[str], copies: int, flagged: tuple[str, ...] = ()) -> ClusterMap:
    nodes = {
        n: NodeEntry(id=n, url=f"http://127.0.0.{i + 1}:8080", flags=[NodeFlag.maintenance] if n in flagged else [])
        for i, n in enumerate(ids)
    }
    return ClusterMap(version=1, rebalance_id="g1", nodes=nodes, copies=copies)


def holder_sets(m: ClusterMap) -> dict[str, list[str]]:
    placement = maps.Placement(m)
    return {k: [e.id for e in placement.holders("b", k)] for k in KEYS}


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_holders_are_the_first_k_of_the_ranking_primary_first(copies: int) -> None:
    ids = ["n1", "n2", "n3", "n4", "n5"]
    placement = maps.Placement(cmap(ids, copies))
    for key in KEYS[:500]:
        holders = [e.id for e in placement.holders("b", key)]
        assert holders == hrw.ranking(maps.object_key("b", key), ids)[:copies]
        assert holders[0] == placement.owner("b", key).id
        assert len(set(holders)) == copies


def test_flagged_nodes_hold_nothing_and_fewer_nodes_than_copies_hold_everything() -> None:
    placement = maps.Placement(cmap(["n1", "n2", "n3"], 3, flagged=("n2",)))
    for key in KEYS[:200]:
        assert sorted(e.id for e in placement.holders("b", key)) == ["n1", "n3"]
    assert maps.Placement(cmap(["n1"], 1, flagged=("n1",))).holders("b", "x") == []


def test_each_node_holds_about_k_over_n_of_the_copies() -> None:
    ids = [f"n{i}" for i in range(1, 6)]
    counts = dict.fromkeys(ids, 0)
    for holders in holder_sets(cmap(ids, 2)).values():
        for n in holders:
            counts[n] += 1
    expected = 2 * len(KEYS) / len(ids)
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values()), counts


@pytest.mark.parametrize("copies", [2, 3])
def test_a_join_moves_only_the_copies_the_new_node_takes(copies: int) -> None:
    before = holder_sets(cmap(["n1", "n2", "n3", "n4"], copies))
    after = holder_sets(cmap(["n1", "n2", "n3", "n4", "n5"], copies))
    changed = 0
    for key in KEYS:
        added, removed = set(after[key]) - set(before[key]), set(before[key]) - set(after[key])
        if added or removed:
            changed += 1
            # the minimum: one new copy, on the new node, and the holder it displaced lets its copy go
            assert added == {"n5"} and removed == {before[key][-1]}, (key, before[key], after[key])
    # the new node takes about copies / nodes of the objects
    assert abs(changed - copies * len(KEYS) / 5) < 0.15 * copies * len(KEYS) / 5


@pytest.mark.parametrize("copies", [2, 3])
def test_a_node_lost_gets_each_of_its_copies_one_new_holder_and_nothing_else_moves(copies: int) -> None:
    ids = ["n1", "n2", "n3", "n4", "n5"]
    before = holder_sets(cmap(ids, copies))
    after = holder_sets(cmap([n for n in ids if n != "n3"], copies))
    for key in KEYS:
        if "n3" in before[key]:
            survivors = [n for n in before[key] if n != "n3"]
            assert after[key][: len(survivors)] == survivors or set(survivors) <= set(after[key])
            assert len(set(after[key]) - set(before[key])) == 1, (key, before[key], after[key])
        else:
            assert after[key] == before[key], key


def test_raising_k_adds_copies_and_lowering_it_keeps_the_first_ones() -> None:
    ids = ["n1", "n2", "n3", "n4"]
    one, two, three = (holder_sets(cmap(ids, k)) for k in (1, 2, 3))
    for key in KEYS:
        assert two[key][:1] == one[key] and three[key][:2] == two[key]


@pytest.mark.parametrize("copies", [0, 4, -1])
def test_a_map_with_copies_out_of_range_is_refused(copies: int) -> None:
    with pytest.raises(ValidationError):
        cmap(["n1"], copies)


def test_a_map_without_copies_is_one_copy() -> None:
    raw = cmap(["n1", "n2"], 1).model_dump(mode="json")
    del raw["copies"]
    assert ClusterMap.model_validate(raw).copies == 1
