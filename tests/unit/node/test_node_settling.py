"""Who finished which rebalance: settled and drained follow from it, survive a restart, only ever grow."""

from __future__ import annotations

from pathlib import Path

from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag
from storage_node.settling import Settling


def _map(reb: int | None, flagged: tuple[str, ...] = ()) -> ClusterMap:
    nodes = {
        n: NodeEntry(id=n, url=f"http://{n}:8080", flags=[NodeFlag.maintenance] if n in flagged else [])
        for n in ("a", "b", "c")
    }
    return ClusterMap(version=reb or 1, rebalance_id=None if reb is None else f"g{reb}", nodes=nodes)


def test_settled_only_when_every_node_finished_the_maps_rebalance(tmp_path: Path) -> None:
    s = Settling(tmp_path / "s.json")
    cmap = _map(3)
    assert not s.settled(cmap) and s.pending(cmap) == ["a", "b", "c"]
    s.merge({"a": 3, "b": 3})
    assert not s.settled(cmap) and s.pending(cmap) == ["c"]
    s.merge({"c": 2})  # an older rebalance does not count
    assert not s.settled(cmap)
    s.merge({"c": 4})
    assert s.settled(cmap)
    assert s.settled(_map(None)), "a map without a rebalance has nothing to move"
    assert not s.settled(None)


def test_knowledge_only_grows_and_survives_a_restart(tmp_path: Path) -> None:
    s = Settling(tmp_path / "s.json")
    assert s.merge({"a": 5})
    assert not s.merge({"a": 4}), "an older report teaches nothing"
    assert s.known() == {"a": 5}
    again = Settling(tmp_path / "s.json")
    again.load()
    assert again.known() == {"a": 5}
    again.clear()
    assert again.known() == {} and not (tmp_path / "s.json").exists()


def test_drained_means_flagged_and_finished(tmp_path: Path) -> None:
    s = Settling(tmp_path / "s.json")
    cmap = _map(2, flagged=("b",))
    assert s.drained(cmap) == set()
    s.merge({"a": 2, "b": 2})
    assert s.drained(cmap) == {"b"}, "an online node that finished holds its share: never drained"
    assert s.drained(_map(3, flagged=("b",))) == set(), "a newer rebalance: b has not said it finished that one"
