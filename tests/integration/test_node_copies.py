"""K copies on real node processes: writes make K copies, a lost node's copies are re-created, K changes both ways."""

from __future__ import annotations

import shutil

from storage_node import maps

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable


def test_every_write_is_on_its_two_holders_when_acknowledged(cluster: Cluster) -> None:
    for i in range(4):
        cluster.add_node(f"n{i}")
    cluster.push_map(cluster.make_map(1, 1, copies=2))
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    urls = [n.url for n in cluster.nodes.values()]
    expected = upload(urls, mixed_sizes(400, seed=3))
    cluster.assert_copies(expected)  # no rebalance ran: the writes themselves made the copies
    verify_readable(urls, expected)


def test_a_node_killed_with_its_disk_wiped_loses_nothing_once_the_map_drops_it(cluster: Cluster) -> None:
    for i in range(4):
        cluster.add_node(f"n{i}")
    cluster.push_map(cluster.make_map(1, 1, copies=2))
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    expected = upload([n.url for n in cluster.nodes.values()], mixed_sizes(600, seed=4))
    cluster.assert_copies(expected)
    lost = cluster.nodes["n2"]
    on_lost = {name for _, name in cluster.holdings()["n2"]}
    cluster.kill(lost)
    for mp in lost.mountpaths:
        shutil.rmtree(mp)
    del cluster.nodes["n2"]

    cluster.push_map(cluster.make_map(2, 2, copies=2))  # the map without it: its copies are re-created
    cluster.wait_rebalance("g2")
    cluster.assert_copies(expected)
    received = 0
    for node in cluster.nodes.values():
        with cluster.client(node) as c:
            received += c.rebalance_status().objects_received
    # the HRW minimum: one new copy of each object the lost node held, nothing else moved
    assert received == len(on_lost), (received, len(on_lost))
    verify_readable([n.url for n in cluster.nodes.values()], expected)


def test_changing_k_adds_and_removes_copies_counted_on_disk(cluster: Cluster) -> None:
    urls = cluster.form(4)
    expected = upload(urls, mixed_sizes(400, seed=5))
    cluster.assert_copies(expected)  # K = 1: each on its one node
    for version, copies in ((2, 2), (3, 3), (4, 1), (5, 2)):
        cluster.push_map(cluster.make_map(version, version, copies=copies))
        cluster.wait_rebalance(f"g{version}")
        cluster.assert_copies(expected)
        verify_readable(urls[:2], expected)
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    assert all(len(placement.holders(BUCKET, n)) == 2 for n in expected)


def test_more_copies_than_nodes_gives_every_node_a_copy(cluster: Cluster) -> None:
    for i in range(2):
        cluster.add_node(f"n{i}")
    cluster.push_map(cluster.make_map(1, 1, copies=3))
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket(BUCKET)
    expected = upload([n.url for n in cluster.nodes.values()], mixed_sizes(100, seed=6))
    held = cluster.holdings()
    assert {name for _, name in held["n0"]} == {name for _, name in held["n1"]} == set(expected)
