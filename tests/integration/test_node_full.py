"""A node whose mountpath fills up (a small tmpfs) never corrupts or loses data.

A client write that does not fit answers 507 and leaves nothing behind; a rebalance into a full node stalls
visibly (errors in its status, no progress, the senders keep their copies) and completes once there is room.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import BUCKET, Cluster, NodeProc, payload, upload, verify_readable, wait_for
from tests.integration.test_node_metrics import scrape, value

KIB = 1 << 10
MIB = 1 << 20


def temp_files(node: NodeProc) -> list[Path]:
    """Files left in the node's temp directories."""
    return [f for mp in node.mountpaths for f in (mp / "ferry" / "tmp").iterdir()]


def test_client_writes_on_a_full_mountpath(cluster: Cluster, tmpfs: Callable[[Path, str], Path]) -> None:
    tmpfs(cluster.root / "n0", "4m")  # its mountpath and its state directory on one volume, as in a pod
    node = cluster.add_node("n0")
    cluster.push_map(cluster.make_map(1, 1))
    with cluster.client(node) as c:
        c.create_bucket(BUCKET)
    stored: dict[str, bytes] = {}
    refused: list[httpx.Response] = []
    with httpx.Client(base_url=node.url, timeout=30) as http:
        # small objects (buffered, written at the end) and large ones (streamed) until the filesystem is full
        for i in range(40):
            name, size = f"obj-{i}", (300 * KIB if i % 2 else 1200 * KIB)
            data = payload(name, size)
            r = http.put(f"/v1/objects/{BUCKET}/{name}", content=data)
            if r.status_code == 200:
                stored[name] = data
            else:
                refused.append(r)
            if len(refused) >= 4:
                break
        assert len(stored) >= 2, "the filesystem should hold a few objects first"
        assert len(refused) >= 4
        for r in refused:
            assert r.status_code == 507, r.text
            assert r.json()["error"] == "insufficient storage" and "no space" in r.json()["detail"]
        assert temp_files(node) == []

        # overwriting an object with a version that does not fit keeps the previous version
        victim = next(iter(stored))
        r = http.put(f"/v1/objects/{BUCKET}/{victim}", content=payload("big", 3 * MIB))
        assert r.status_code == 507
        r = http.put(f"/v1/objects/{BUCKET}/{victim}", content=payload("small-but-too-big", 900 * KIB))
        assert r.status_code == 507
        assert temp_files(node) == []
        for name, data in stored.items():
            r = http.get(f"/v1/objects/{BUCKET}/{name}")
            assert r.status_code == 200 and r.content == data, name

        # to the last block: the node's own state (tombstones) shares the volume
        for i in range(2000):
            name, data = f"tiny-{i}", payload(f"tiny-{i}", KIB)
            r = http.put(f"/v1/objects/{BUCKET}/{name}", content=data)
            if r.status_code == 507:
                break
            assert r.status_code == 200, r.text
            stored[name] = data
        assert r.status_code == 507
        assert os.statvfs(node.state_dir).f_bavail == 0

        # the node's own state shares the volume: a new bucket does not fit either, and nothing changes
        r = http.put("/v1/buckets/other")
        assert r.status_code == 507, r.text
        assert http.get("/v1/buckets/other").status_code == 404

        # the node restarts on its full volume with every acknowledged object whole
        cluster.terminate(node)
        cluster.start(node)
        for name, data in stored.items():
            r = http.get(f"/v1/objects/{BUCKET}/{name}")
            assert r.status_code == 200 and r.content == data, name
        with cluster.client(node) as c:
            assert c.status().objects == len(stored)

        # deleting makes room again
        for name in list(stored)[:2]:
            assert http.delete(f"/v1/objects/{BUCKET}/{name}").status_code == 200
        r = http.put(f"/v1/objects/{BUCKET}/after", content=payload("after", 200 * KIB))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("transport", ["raw", "http"])
def test_rebalance_into_a_full_node_stalls_then_completes(
    cluster: Cluster, tmpfs: Callable[[Path, str], Path], transport: str
) -> None:
    full = tmpfs(cluster.root / "n1" / "mp0", "4m")
    n0 = cluster.add_node("n0")
    cluster.push_map(cluster.make_map(1, 1, members=["n0"]))
    with cluster.client(n0) as c:
        c.create_bucket(BUCKET)
    objects = {f"o{i:03d}": 100 * KIB for i in range(40)}  # 4 MB; about half belong to n1 once it joins
    expected = upload([n0.url], objects)

    n1 = cluster.add_node("n1", 1, *(["--bundle-port", "-1"] if transport == "http" else []))
    ballast = full / "ballast"  # leaves about 1 MiB for the ~2 MB that n1 should receive
    ballast.write_bytes(b"\0" * (3 * MIB))
    cluster.push_map(cluster.make_map(2, 2))

    def refused() -> bool:
        with cluster.client(n0) as c:
            st = c.rebalance_status()
        return st.id == "g2" and any("nospace" in e for e in st.errors)

    wait_for("n0 to record refused copies", refused, timeout=60, interval=0.2)
    with cluster.client(n0) as c:
        before = c.rebalance_status()
    time.sleep(3)
    with cluster.client(n0) as c:
        after = c.rebalance_status()
    assert after.stage == "traverse", after  # stalled, not done: nothing more moves
    assert (after.objects_sent, after.bytes_sent) == (before.objects_sent, before.bytes_sent)
    assert after.objects_sent < after.objects_to_send
    assert temp_files(n1) == []
    held = cluster.holdings()
    assert set(held["n0"]) | set(held["n1"]) == {(BUCKET, n) for n in objects}, "an object is on neither node"
    verify_readable([n0.url, n1.url], expected)  # clients notice nothing

    _, samples = scrape(n0.url)
    assert value(samples, "ferry_node_rebalance_running") == 1
    assert value(samples, "ferry_node_rebalance_remaining_bytes") == after.bytes_to_send - after.bytes_sent > 0
    assert value(samples, "ferry_node_rebalance_errors_total") > 0
    _, samples = scrape(n1.url)
    assert value(samples, "ferry_node_mountpath_free_bytes", mountpath=str(full.resolve())) < 200 * KIB

    ballast.unlink()  # room again: the rebalance goes on by itself
    cluster.wait_rebalance("g2", timeout=60)
    cluster.assert_in_place(expected)
    verify_readable([n0.url, n1.url], expected)
    assert temp_files(n1) == []
    _, samples = scrape(n0.url)
    assert value(samples, "ferry_node_rebalance_running") == 0
    assert value(samples, "ferry_node_rebalance_remaining_bytes") == 0
