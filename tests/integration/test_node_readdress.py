"""A drained node comes back at another address while a question to its old address is still out."""

from __future__ import annotations

import signal
import threading
import time

import httpx
from storage_node import maps
from storage_node.schemas import ClusterMap, NodeFlag

from tests.integration.harness import BUCKET, Cluster, NodeProc, admin_headers, mixed_sizes, upload


def test_answers_asked_by_an_older_map_are_asked_again_not_taken_for_doubt(cluster: Cluster) -> None:
    """On Kubernetes a shut-down node's pod comes back with a new IP; its old one swallows packets.

    A listing (or a delete) that asked the old address while the node was drained, and whose answer times
    out after the map brought the node back (no longer drained, at its new address), must ask again by the
    new map, not answer 503 because "a node that may hold objects did not answer".
    """
    urls = cluster.form(3)
    expected = upload(urls, mixed_sizes(40, seed=7))
    cluster.push_map(cluster.make_map(2, 2, flags={"n1": [NodeFlag.maintenance]}))
    cluster.wait_rebalance("g2")
    old = cluster.nodes["n1"]
    assert old.proc is not None
    old.proc.send_signal(signal.SIGSTOP)  # its address accepts connections and never answers, like a gone pod's
    try:
        back = cluster.add_node("n1")  # the same node back at another address (it held nothing: drained)
        n0 = cluster.nodes["n0"]
        results: dict[str, httpx.Response] = {}

        def ask(what: str, method: str, path: str) -> None:
            with httpx.Client(timeout=120.0, headers=admin_headers()) as http:
                results[what] = http.request(method, f"{n0.url}{path}")

        askers = [
            threading.Thread(target=ask, args=("list", "GET", f"/v1/buckets/{BUCKET}?limit=1000")),
            threading.Thread(target=ask, args=("delete", "DELETE", f"/v1/objects/{BUCKET}/never-written")),
        ]
        for t in askers:
            t.start()
        time.sleep(1.0)  # both are waiting for the old address now
        assert all(t.is_alive() for t in askers), results
        cluster.push_map(cluster.make_map(3, 3))  # back online at its new address: it receives objects again
        for t in askers:
            t.join(timeout=90)
        assert results["list"].status_code == 200, results["list"].text
        listed = {o["name"] for o in results["list"].json()["objects"]}
        assert listed == set(expected)
        assert results["delete"].status_code == 404, results["delete"].text
        cluster.wait_rebalance("g3")
        assert back.url != old.url
        cluster.assert_in_place(expected)
    finally:
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait(10)


def test_a_node_at_an_address_another_node_had_does_not_answer_for_it(cluster: Cluster) -> None:
    """A pod's address is reused by another pod: a node asking by an older map must not take its answer for
    the node it meant to ask (here: its page of a listing would stand for n1's, and n1's objects be missing)."""
    urls = cluster.form(3)
    expected = upload(urls, mixed_sizes(40, seed=8))
    placement = maps.Placement(cluster.make_map(1, 1))
    on_n1 = next(n for n in expected if placement.owner(BUCKET, n).id == "n1")
    n1 = cluster.nodes["n1"]
    cluster.kill(n1)
    other = NodeProc(
        id="nx", host=n1.host, port=n1.port, mountpaths=[cluster.root / "nx" / "mp0"],
        state_dir=cluster.root / "nx" / "state", log=cluster.root / "nx.log",
    )  # fmt: skip
    cluster.nodes["nx"] = other
    cluster.start(other)  # another node of another cluster, at n1's old address, with the same bucket
    cluster.push_map(ClusterMap(version=1, rebalance_id="g1", nodes={"nx": other.entry()}), targets=["nx"])
    with cluster.client(other) as c:
        c.create_bucket(BUCKET)
    _settings(cluster.nodes["n0"], peer_wait_seconds=2)
    with httpx.Client(timeout=60.0) as http:
        start = time.monotonic()
        r = http.get(f"{cluster.nodes['n0'].url}/v1/buckets/{BUCKET}", params={"limit": "1000"})
    # n1's objects (on_n1 among them) are on n1's disk, and n1 is down: the listing cannot be complete (it
    # waits for n1 a while, then says so)
    assert r.status_code == 503 and "answered as nx" in r.text, (on_n1, r.status_code, r.text[:300])
    assert time.monotonic() - start >= 2
    assert "retry-after" in r.headers


def _settings(node: NodeProc, **values: object) -> None:
    with httpx.Client(timeout=10.0, headers=admin_headers()) as http:
        http.put(f"{node.url}/v1/admin/settings", json=values).raise_for_status()


def test_a_node_that_stops_answering_mid_rebalance_is_waited_for_not_answered_503(cluster: Cluster) -> None:
    """A node pod killed while it still holds objects (its rebalance cut short) comes back within seconds.

    Until then no other node can tell whether an object it does not hold is on it. Clients must not see that
    window: reads, listings and deletes wait for the node (`peer_wait_seconds`) and then answer right; with
    the wait set to 0 the same requests answer 503 at once, as before.
    """
    urls = cluster.form(3)
    expected = upload(urls, mixed_sizes(60, seed=21))
    for n in cluster.nodes.values():
        cluster.set_bandwidth(n, 64 << 10, concurrency=1)  # n1's objects leave it slowly: most are still there
    cluster.push_map(cluster.make_map(2, 2, flags={"n1": [NodeFlag.maintenance]}))
    n0, n1 = cluster.nodes["n0"], cluster.nodes["n1"]
    assert cluster.map is not None
    placement = maps.Placement(cluster.map)
    on_n1 = sorted((n for _, n in cluster.holdings()["n1"] if placement.owner(BUCKET, n).id == "n2"))
    assert len(on_n1) >= 4, "n1 still holds objects that now belong to n2"
    read, gone = on_n1[0], on_n1[1]
    assert n1.proc is not None
    n1.proc.send_signal(signal.SIGSTOP)  # it accepts connections and answers nothing, like a pod being replaced
    try:
        for nid in ("n0", "n2"):
            _settings(cluster.nodes[nid], peer_wait_seconds=0)
        with httpx.Client(timeout=60.0, follow_redirects=True) as http:
            r = http.get(f"{n0.url}/v1/objects/{BUCKET}/{read}")
        assert r.status_code == 503 and "retry-after" in r.headers, (r.status_code, r.text[:300])

        for nid in ("n0", "n2"):
            _settings(cluster.nodes[nid], peer_wait_seconds=60)
        results: dict[str, httpx.Response] = {}

        def ask(what: str, method: str, path: str) -> None:
            with httpx.Client(timeout=120.0, follow_redirects=True) as http:
                results[what] = http.request(method, f"{n0.url}{path}")

        askers = [
            threading.Thread(target=ask, args=("get", "GET", f"/v1/objects/{BUCKET}/{read}")),
            threading.Thread(target=ask, args=("list", "GET", f"/v1/buckets/{BUCKET}?limit=1000")),
            threading.Thread(target=ask, args=("delete", "DELETE", f"/v1/objects/{BUCKET}/{gone}")),
            threading.Thread(target=ask, args=("absent", "DELETE", f"/v1/objects/{BUCKET}/never-written")),
        ]
        for t in askers:
            t.start()
        time.sleep(3.0)
        assert all(t.is_alive() for t in askers), {k: v.status_code for k, v in results.items()}
    finally:
        n1.proc.send_signal(signal.SIGCONT)
    for t in askers:
        t.join(timeout=90)
    assert results["get"].status_code == 200, results["get"].text[:300]
    assert results["get"].headers["x-ferry-checksum"] == expected[read]
    assert results["list"].status_code == 200, results["list"].text[:300]
    listed = {o["name"] for o in results["list"].json()["objects"]}
    assert listed - {gone} == set(expected) - {gone}, "the listing ran alongside the delete: it may show `gone`"
    assert results["delete"].status_code == 200, results["delete"].text[:300]
    assert results["absent"].status_code == 404, results["absent"].text[:300]
    for n in cluster.nodes.values():
        cluster.set_bandwidth(n, 0)
    cluster.wait_rebalance("g2")
    del expected[gone]
    cluster.assert_in_place(expected)
