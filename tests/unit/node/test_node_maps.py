"""Cluster-map versioning, eligibility and rebalance ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from storage_node import maps
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, parse_rebalance_id, rebalance_number


def cmap(version: int, reb: str | None = "g1", flags: dict[str, list[NodeFlag]] | None = None) -> ClusterMap:
    flags = flags or {}
    nodes = {
        n: NodeEntry(id=n, url=f"http://127.0.0.{i + 1}:8080", flags=flags.get(n, []))
        for i, n in enumerate(["a", "b", "c"])
    }
    return ClusterMap(version=version, rebalance_id=reb, nodes=nodes)


def test_newer_version_installs() -> None:
    assert maps.check_install(None, cmap(1))
    assert maps.check_install(cmap(1), cmap(2, "g2"))


def test_same_map_is_a_noop() -> None:
    assert maps.check_install(cmap(3), cmap(3)) is False


def test_older_version_conflicts() -> None:
    with pytest.raises(maps.MapConflict):
        maps.check_install(cmap(3), cmap(2))


def test_same_version_different_content_conflicts() -> None:
    with pytest.raises(maps.MapConflict):
        maps.check_install(cmap(3), cmap(3, flags={"a": [NodeFlag.maintenance]}))


def test_rebalance_id_must_not_go_back() -> None:
    with pytest.raises(maps.MapConflict):
        maps.check_install(cmap(3, "g5"), cmap(4, "g4"))


def test_map_is_immutable() -> None:
    m = cmap(1)
    with pytest.raises(ValidationError):
        m.version = 2


def test_rebalance_ids_compare_numerically() -> None:
    assert parse_rebalance_id("g10") == 10
    assert rebalance_number("g10") > rebalance_number("g9")
    assert rebalance_number(None) == 0
    for bad in ("10", "gx", "g-1", "G1"):
        with pytest.raises(ValueError):
            parse_rebalance_id(bad)
    with pytest.raises(ValidationError):
        ClusterMap(version=1, rebalance_id="x1")


def test_version_must_be_positive_and_keys_match_ids() -> None:
    with pytest.raises(ValidationError):
        ClusterMap(version=0)
    with pytest.raises(ValidationError):
        ClusterMap(version=1, nodes={"x": NodeEntry(id="y", url="http://127.0.0.1:1")})


def test_flagged_nodes_get_no_placement() -> None:
    m = cmap(2, flags={"b": [NodeFlag.maintenance], "c": [NodeFlag.decommission]})
    assert maps.eligible_ids(m) == ["a"]
    placement = maps.Placement(m)
    assert {placement.owner("bk", f"o{i}").id for i in range(100)} == {"a"}
    assert [n.id for n in placement.others("a")] == ["b", "c"]


def test_all_flagged_means_empty_placement() -> None:
    flags = {n: [NodeFlag.maintenance] for n in "abc"}
    assert maps.Placement(cmap(2, flags=flags)).empty
