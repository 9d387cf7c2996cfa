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
    with httpx.Client(timeout=60.0) as http:
        r = http.get(f"{cluster.nodes['n0'].url}/v1/buckets/{BUCKET}", params={"limit": "1000"})
    # n1's objects (on_n1 among them) are on n1's disk, and n1 is down: the listing cannot be complete
    assert r.status_code == 503 and "answered as nx" in r.text, (on_n1, r.status_code, r.text[:300])
    assert "retry-after" in r.headers
