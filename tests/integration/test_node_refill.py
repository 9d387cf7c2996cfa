"""A node back on a wiped volume (the same id, nothing on disk, not even its state): nothing read as missing."""

from __future__ import annotations

import shutil
import signal
import time

import httpx
from storage_node import maps
from storage_node.schemas import ClusterMap, SettingsUpdate

from tests.integration.harness import BUCKET, Cluster, NodeProc, mixed_sizes, upload, verify_readable
from tests.integration.test_node_copies import with_copies
from tests.workload import Workload


def _wipe(cluster: Cluster, node: NodeProc) -> None:
    """kill -9 the node and remove its whole volume: mountpaths and state dir (as a replaced disk)."""
    cluster.kill(node)
    for path in [*node.mountpaths, node.state_dir]:
        shutil.rmtree(path)


def _status(cluster: Cluster, node: NodeProc) -> int | None:
    with cluster.client(node) as c:
        return c.status().refill_after


def test_a_wiped_node_back_in_the_map_refills_and_never_answers_missing_for_what_the_others_hold(
    cluster: Cluster,
) -> None:
    urls = with_copies(cluster, 4, 2)
    stable = upload(urls, mixed_sizes(300, seed=11))
    wiped = cluster.nodes["n2"]
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    its_share = {n for n in stable if "n2" in {h.id for h in placement.holders(BUCKET, n)}}
    assert its_share
    up = set(cluster.nodes)
    killed_at: list[float] = []

    def targets() -> list[str]:
        return [cluster.nodes[n].url for n in sorted(up)]

    def gone(url: str, at: float) -> bool:  # cut off by the kill, or sent to it while it was down
        return url == wiped.url and bool(killed_at) and at >= killed_at[0] and at <= killed_at[-1]

    with Workload(BUCKET, targets, threads=4, keys=40, stable=stable, seed=5, gone=gone) as clients:
        time.sleep(1.0)
        up.discard("n2")
        killed_at.append(time.monotonic())
        _wipe(cluster, wiped)
        cluster.start(wiped)  # the same node id on an empty volume; the map it is given is older than it
        assert cluster.map is not None
        cluster.push_map(cluster.map, targets=["n2"])
        killed_at.append(time.monotonic())
        assert _status(cluster, wiped) == 1  # refilling: filled once the cluster settles on a rebalance after g1
        up.add("n2")
        time.sleep(2.0)
        # through the wiped node and the others: what it should hold reads from the other holders at once
        verify_readable(targets(), {n: stable[n] for n in its_share})
        with httpx.Client(follow_redirects=True, timeout=30) as http:
            for url in targets():  # an object that never existed is still "missing" at once, not a 503
                started = time.monotonic()
                r = http.head(f"{url}/v1/objects/{BUCKET}/never-written-{time.monotonic_ns()}")
                assert r.status_code == 404 and time.monotonic() - started < 5, (url, r.status_code)
        cluster.push_map(maps_with_rebalance(cluster, 2))  # what the operator does when n2 reports refilling
        cluster.wait_rebalance("g2")
        time.sleep(1.0)
    print(f"\nclients: {clients.summary(per_kind=2)}")
    assert not clients.failures, clients.summary()
    wrong = clients.check_back(targets())
    assert not wrong, wrong[:10]
    assert _status(cluster, wiped) is None  # refilled
    held = cluster.holdings()
    expected = {**stable, **clients.live()}
    for name, ck in expected.items():
        if name in clients.uncertain():
            continue
        where = {n for n, objs in held.items() if objs.get((BUCKET, name)) == ck}
        assert where == {h.id for h in placement.holders(BUCKET, name)}, (name, where)
    verify_readable(targets(), stable)


def maps_with_rebalance(cluster: Cluster, number: int) -> ClusterMap:
    """The current members and K in a new version with rebalance g<number>."""
    assert cluster.map is not None
    return cluster.make_map(cluster.map.version + 1, number, copies=cluster.map.copies)


def test_with_a_wiped_holder_and_the_other_holder_down_reads_and_deletes_say_503_not_missing(
    cluster: Cluster,
) -> None:
    urls = with_copies(cluster, 3, 2)
    stable = upload(urls, mixed_sizes(120, seed=12))
    wiped, frozen = cluster.nodes["n2"], cluster.nodes["n1"]
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    both = sorted(n for n in stable if {h.id for h in placement.holders(BUCKET, n)} == {"n1", "n2"})[:4]
    assert len(both) == 4
    _wipe(cluster, wiped)
    cluster.start(wiped)
    assert cluster.map is not None
    cluster.push_map(cluster.map, targets=["n2"])
    for node in cluster.nodes.values():
        with cluster.client(node) as c:
            c.update_settings(SettingsUpdate(peer_wait_seconds=1.0))
    assert frozen.proc is not None
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(6.0)  # the others find n1 down
        with httpx.Client(follow_redirects=True, timeout=30) as http:
            for url in (cluster.nodes["n0"].url, wiped.url):
                for name in both[:2]:  # n1 down, n2 wiped: nobody can say; never "no such object"
                    r = http.get(f"{url}/v1/objects/{BUCKET}/{name}")
                    assert r.status_code == 503 and "retry-after" in r.headers, (url, name, r.status_code)
            r = http.delete(f"{cluster.nodes['n0'].url}/v1/objects/{BUCKET}/{both[2]}")
            assert r.status_code == 503, r.status_code
            # nor is a listing whole: n2 may not hold yet what it should, n1 is left out as down
            r = http.get(f"{cluster.nodes['n0'].url}/v1/buckets/{BUCKET}")
            assert r.status_code == 503, (r.status_code, r.text[:200])
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    time.sleep(3.0)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for url in urls:
            for name in (both[0], both[1], both[3]):
                r = http.get(f"{url}/v1/objects/{BUCKET}/{name}")
                assert r.status_code == 200 and r.headers["x-ferry-checksum"] == stable[name], (url, name)
            # the delete that answered 503 was applied where it could be: n1 catches up on thawing
            assert http.get(f"{url}/v1/objects/{BUCKET}/{both[2]}").status_code == 404
