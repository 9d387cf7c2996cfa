"""Clients keep doing PUT/GET/DELETE/list during a rebalance: no failure, nothing lost or resurrected."""

from __future__ import annotations

import time

import httpx
from storage_node.schemas import NodeFlag

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable
from tests.workload import Workload


def test_traffic_during_rebalance(cluster: Cluster) -> None:
    urls = cluster.form(4)
    stable = upload(urls, mixed_sizes(1500, seed=5))
    for node in cluster.nodes.values():
        cluster.set_bandwidth(node, 4 << 20, concurrency=2)  # slow enough for traffic to overlap it

    with Workload(BUCKET, lambda: urls, threads=6, keys=60, prefix="hot", stable=stable, seed=2) as clients:
        time.sleep(0.5)
        start = time.monotonic()
        cluster.push_map(cluster.make_map(2, 2, {"n1": [NodeFlag.maintenance]}))
        cluster.wait_rebalance("g2", 180.0)
        window = (start, time.monotonic())

    assert not clients.failures, clients.summary()
    during = clients.overlapping([window])
    assert during > 300 and during >= clients.requests // 2, (during, clients.requests)
    expected = {**stable, **clients.live()}
    assert not cluster.holdings()["n1"]
    cluster.assert_in_place(expected, uncertain=clients.uncertain())
    verify_readable(urls[:2], expected)
    with cluster.client(cluster.nodes["n2"]) as c:
        listed = {o.name: o.checksum for o in c.list_all(BUCKET, limit=333)}  # every page, keys written meanwhile
    assert listed == expected
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for key in clients.deleted():
            assert http.get(f"{urls[0]}/v1/objects/{BUCKET}/{key}").status_code == 404, key
