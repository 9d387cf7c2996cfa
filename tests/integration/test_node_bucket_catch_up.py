"""Bucket changes reach a node that missed them: a destroyed bucket does not come back from it."""

from __future__ import annotations

import httpx

from tests.integration.harness import BUCKET, Cluster, objects_on_disk, upload


def test_a_node_down_during_a_bucket_destroy_drops_it_with_the_next_map(cluster: Cluster) -> None:
    urls = cluster.form(3)
    upload(urls, {f"obj-{i}": 2048 for i in range(90)})
    down = cluster.nodes["n2"]
    assert any(b == BUCKET for b, _ in objects_on_disk(down.mountpaths))
    cluster.kill(down)
    with cluster.client(cluster.nodes["n0"]) as c:
        c.delete_bucket(BUCKET)  # n2 cannot be told now
    cluster.start(down)
    cluster.push_map(cluster.make_map(2, 2))
    cluster.wait_rebalance("g2")

    assert not any(b == BUCKET for b, _ in objects_on_disk(down.mountpaths))
    for node in cluster.nodes.values():
        assert httpx.get(f"{node.url}/v1/buckets/{BUCKET}").status_code == 404, node.id
        assert httpx.get(f"{node.url}/v1/objects/{BUCKET}/obj-1", follow_redirects=True).status_code == 404


def test_a_bucket_creation_reaches_every_running_member_without_a_map_change(cluster: Cluster) -> None:
    urls = cluster.form(3)
    with cluster.client(cluster.nodes["n0"]) as c:
        c.create_bucket("late")
    # every node serves the new bucket at once: creations are pushed to all members (a map install no longer
    # makes members pull every peer's registry)
    for url in urls:
        put = httpx.put(f"{url}/v1/objects/late/x-{url[-5:]}", content=b"data", follow_redirects=True)
        assert put.status_code in (200, 201), put.text
    cluster.push_map(cluster.make_map(2, 2))
    cluster.wait_rebalance("g2")
    for url in urls:
        listed = httpx.get(f"{url}/v1/buckets/late").json()
        assert len(listed["objects"]) == len(urls), listed
