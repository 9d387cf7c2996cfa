"""Buckets created and destroyed while a rebalance runs (docs/lifecycle.md says the cluster stays fully usable)."""

from __future__ import annotations

import httpx
from storage_node.schemas import NodeFlag

from tests.integration.harness import (
    Cluster,
    mixed_sizes,
    objects_on_disk,
    payload,
    upload,
    verify_readable,
)


def test_a_bucket_created_and_one_destroyed_mid_rebalance_are_so_everywhere_afterwards(cluster: Cluster) -> None:
    urls = cluster.form(3)
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket("doomed")
    expected = upload(urls, mixed_sizes(600))
    doomed = upload(urls, mixed_sizes(300, seed=2), bucket="doomed")
    for node in cluster.nodes.values():  # slow enough that the bucket changes land while objects move
        cluster.set_bandwidth(node, 2 << 20, concurrency=1)
    cluster.push_map(cluster.make_map(2, 2, {"n2": [NodeFlag.maintenance]}))
    assert not cluster.rebalance_done("g2"), "the rebalance should still be running"
    with httpx.Client(timeout=60.0, follow_redirects=True) as http:
        assert http.put(f"{urls[2]}/v1/buckets/fresh").json()["created"] is True
        assert http.delete(f"{urls[1]}/v1/buckets/doomed").status_code == 200
        fresh = {f"f{i}": payload(f"f{i}", 5000) for i in range(50)}
        for i, (name, data) in enumerate(fresh.items()):
            assert http.put(f"{urls[i % 3]}/v1/objects/fresh/{name}", content=data).status_code == 200
        assert not cluster.rebalance_done("g2"), "the bucket changes should land while objects still move"
    for node in cluster.nodes.values():
        cluster.set_bandwidth(node, 0, concurrency=4)
    cluster.wait_rebalance("g2")
    with httpx.Client(timeout=60.0) as http:
        for url in urls:
            assert http.get(f"{url}/v1/buckets/doomed").status_code == 404
            assert http.get(f"{url}/v1/objects/doomed/{next(iter(doomed))}", follow_redirects=True).status_code == 404
            listed = http.get(f"{url}/v1/buckets/fresh").json()["objects"]
            assert sorted(o["name"] for o in listed) == sorted(fresh)
            for name, data in list(fresh.items())[:10]:
                assert http.get(f"{url}/v1/objects/fresh/{name}", follow_redirects=True).content == data
    for node in cluster.nodes.values():
        on_disk = objects_on_disk(node.mountpaths)
        assert not [k for k in on_disk if k[0] == "doomed"], f"{node.id} keeps objects of the destroyed bucket"
    assert not objects_on_disk(cluster.nodes["n2"].mountpaths), "the node in maintenance should be drained"
    verify_readable(urls, expected)
