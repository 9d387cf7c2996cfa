"""Rebalance interruptions: kill -9 and restart mid-way; a newer map superseding a running rebalance."""

from __future__ import annotations

from storage_node.schemas import NodeFlag, RebalanceStage

from tests.integration.harness import Cluster, mixed_sizes, upload, verify_readable, wait_for


def _sent(cluster: Cluster, node_id: str) -> int:
    with cluster.client(cluster.nodes[node_id]) as c:
        return c.rebalance_status().objects_sent


def test_kill_9_mid_rebalance_resumes(cluster: Cluster) -> None:
    urls = cluster.form(3)
    expected = upload(urls, mixed_sizes(1500, seed=3))
    victim = cluster.nodes["n2"]
    cluster.set_bandwidth(victim, 6 << 20, concurrency=1)
    total = len(cluster.holdings()["n2"])

    cluster.push_map(cluster.make_map(2, 2, {"n2": [NodeFlag.maintenance]}))
    wait_for("some objects sent", lambda: _sent(cluster, "n2") > 0, timeout=60)
    cluster.kill(victim)
    left = len(cluster.holdings()["n2"])
    assert 0 < left < total, "the kill should land mid-way"
    cluster.start(victim)  # settings are not persisted: the restarted node runs unthrottled
    cluster.wait_rebalance("g2")

    assert not cluster.holdings()["n2"]
    cluster.assert_in_place(expected)
    verify_readable(urls, expected)


def test_newer_map_supersedes_running_rebalance(cluster: Cluster) -> None:
    urls = cluster.form(4)
    expected = upload(urls, mixed_sizes(1500, seed=4))
    for node in cluster.nodes.values():
        cluster.set_bandwidth(node, 6 << 20, concurrency=1)

    cluster.push_map(cluster.make_map(2, 2, {"n3": [NodeFlag.maintenance]}))
    wait_for("g2 under way", lambda: _sent(cluster, "n3") > 0, timeout=60)
    cluster.push_map(cluster.make_map(3, 3, {"n0": [NodeFlag.maintenance]}))
    for node in cluster.nodes.values():
        with cluster.client(node) as c:
            st = c.rebalance_status()
            assert st.id == "g3"
        cluster.set_bandwidth(node, 0)
    cluster.wait_rebalance("g3")

    held = cluster.holdings()
    assert not held["n0"]
    assert held["n3"], "n3 is back in placement and holds its share again"
    cluster.assert_in_place(expected)
    verify_readable(urls, expected)
    with cluster.client(cluster.nodes["n1"]) as c:
        assert c.rebalance_status().stage is RebalanceStage.done
