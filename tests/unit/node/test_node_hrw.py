"""HRW placement: stability, minimal movement, balance."""

from __future__ import annotations

from collections import Counter

from storage_node import hrw

KEYS = [f"bucket/obj-{i}" for i in range(20000)]
NODES = [f"node-{i}" for i in range(5)]


def test_winner_is_stable_and_order_independent() -> None:
    first = [hrw.winner(k, NODES) for k in KEYS[:1000]]
    again = [hrw.winner(k, list(reversed(NODES))) for k in KEYS[:1000]]
    ring = hrw.Ring(NODES)
    assert first == again == [ring.winner(k) for k in KEYS[:1000]]


def test_ranking_starts_with_winner() -> None:
    for k in KEYS[:200]:
        assert hrw.ranking(k, NODES)[0] == hrw.winner(k, NODES)
        assert sorted(hrw.ranking(k, NODES)) == sorted(NODES)


def test_removing_a_node_moves_only_its_keys() -> None:
    before = {k: hrw.winner(k, NODES) for k in KEYS}
    after = {k: hrw.winner(k, NODES[:-1]) for k in KEYS}
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == NODES[-1]}


def test_adding_a_node_moves_only_keys_it_wins() -> None:
    before = {k: hrw.winner(k, NODES) for k in KEYS}
    after = {k: hrw.winner(k, [*NODES, "node-new"]) for k in KEYS}
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if after[k] == "node-new"}
    assert abs(len(moved) / len(KEYS) - 1 / 6) < 0.02


def test_balance_within_ten_percent() -> None:
    counts = Counter(hrw.winner(k, NODES) for k in KEYS)
    expected = len(KEYS) / len(NODES)
    assert all(abs(c - expected) / expected < 0.1 for c in counts.values()), counts


def test_no_candidates() -> None:
    try:
        hrw.winner("k", [])
    except ValueError:
        return
    raise AssertionError("expected ValueError")
