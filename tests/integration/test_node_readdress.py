"""A drained node comes back at another address while a question to its old address is still out."""

from __future__ import annotations

import signal
import threading
import time

import httpx
from storage_node.schemas import NodeFlag

from tests.integration.harness import BUCKET, Cluster, admin_headers, mixed_sizes, upload


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
