"""A node joins: it receives exactly its HRW share and nothing else moves."""

from __future__ import annotations

from storage_node import maps

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable


def test_join_receives_exactly_its_share(cluster: Cluster) -> None:
    expected = upload(cluster.form(3), mixed_sizes(2000, seed=2))
    before = cluster.holdings()

    joiner = cluster.add_node("n3")
    new_map = cluster.make_map(2, 2)
    cluster.push_map(new_map)
    cluster.wait_rebalance("g2")

    placement = maps.Placement(new_map)
    share = {n for n in expected if placement.owner(BUCKET, n).id == "n3"}
    after = cluster.holdings()
    assert {name for _, name in after["n3"]} == share
    assert 0.15 < len(share) / len(expected) < 0.35
    for node_id in ("n0", "n1", "n2"):
        assert set(after[node_id]) == set(before[node_id]) - {(BUCKET, n) for n in share}
    with cluster.client(joiner) as c:
        st = c.status()
    assert st.rebalance.objects_received == len(share)
    cluster.assert_in_place(expected)
    verify_readable([joiner.url, cluster.nodes["n0"].url], expected)
