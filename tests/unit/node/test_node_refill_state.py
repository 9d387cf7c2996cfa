"""A node's refill state: a wiped node knows it held data, a new one does not, and it ends once settled anew."""

from __future__ import annotations

import time
from pathlib import Path

from storage_node.refilling import Refill
from storage_node.schemas import ClusterMap, NodeEntry


def _map(created: float | None, reb: int = 3, members: tuple[str, ...] = ("n0", "n1")) -> ClusterMap:
    """A map whose members entered it at `created`."""
    nodes = {i: NodeEntry(id=i, url=f"http://127.0.0.{k + 1}:8080", since=created) for k, i in enumerate(members)}
    return ClusterMap(version=5, rebalance_id=f"g{reb}", nodes=nodes, copies=2)


def test_an_empty_start_in_the_map_since_before_it_started_refills_and_remembers_it(tmp_path: Path) -> None:
    refill = Refill(tmp_path / "refill.json")
    refill.load(saved_map=False)
    refill.first_map("n1", _map(created=time.time() - 60))
    assert refill.after == 3
    again = Refill(tmp_path / "refill.json")  # restarted while refilling: it goes on refilling
    again.load(saved_map=True)
    assert again.after == 3


def test_a_new_node_that_entered_the_map_after_it_started_is_not_refilling(tmp_path: Path) -> None:
    refill = Refill(tmp_path / "refill.json")
    refill.load(saved_map=False)
    refill.first_map("n1", _map(created=time.time() + 1))
    assert refill.after is None
    refill.first_map("n1", _map(created=1.0))  # only the first map an empty start is given is judged
    assert refill.after is None


def test_a_restart_with_its_map_a_map_without_it_or_without_a_date_is_not_refilling(tmp_path: Path) -> None:
    kept = Refill(tmp_path / "a.json")
    kept.load(saved_map=True)
    kept.first_map("n1", _map(created=1.0))
    stranger = Refill(tmp_path / "b.json")
    stranger.load(saved_map=False)
    stranger.first_map("n9", _map(created=1.0))
    undated = Refill(tmp_path / "c.json")
    undated.load(saved_map=False)
    undated.first_map("n1", _map(created=None))  # a map from before entries were dated: nothing to judge by
    assert (kept.after, stranger.after, undated.after) == (None, None, None)


def test_it_ends_only_once_settled_on_a_later_rebalance(tmp_path: Path) -> None:
    refill = Refill(tmp_path / "refill.json")
    refill.load(saved_map=False)
    refill.first_map("n1", _map(created=1.0, reb=3))
    refill.settled_on(_map(created=1.0, reb=3))  # the rebalance it found done: nobody sent it anything
    assert refill.after == 3
    refill.settled_on(_map(created=2.0, reb=4))
    assert refill.after is None
    assert not (tmp_path / "refill.json").exists()
