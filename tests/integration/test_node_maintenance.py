"""A node set to maintenance: its data leaves, everything stays readable everywhere, all in place."""

from __future__ import annotations

from storage_node.schemas import NodeFlag, RebalanceStage

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable


def test_maintenance_drains_node(cluster: Cluster) -> None:
    for i in range(4):
        cluster.add_node(f"n{i}", 2)
    cluster.push_map(cluster.make_map(1, 1))
    cluster.wait_rebalance("g1")
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    urls = [n.url for n in cluster.nodes.values()]
    expected = upload(urls, mixed_sizes(2500))
    cluster.assert_in_place(expected)
    before = cluster.holdings()["n3"]
    assert before, "n3 should hold its share before maintenance"

    cluster.push_map(cluster.make_map(2, 2, {"n3": [NodeFlag.maintenance]}))
    cluster.wait_rebalance("g2")

    with cluster.client(cluster.nodes["n3"]) as c:
        st = c.status()
    assert st.objects == 0 and st.bytes == 0
    assert st.rebalance.stage is RebalanceStage.done
    assert st.rebalance.objects_sent == st.rebalance.objects_to_send == len(before)
    assert not cluster.holdings()["n3"]
    cluster.assert_in_place(expected)
    verify_readable(urls, expected)
    with cluster.client(cluster.nodes["n3"]) as c:
        listed = c.list_all(BUCKET, limit=700)
    assert {o.name: o.checksum for o in listed} == expected
