"""Clients that pick any node for any request see no failure through every kind of map change.

Real node processes; the maps reach the nodes one at a time in a random order with pauses between them, so
nodes hold different map versions while clients keep going; the rebalance is run unthrottled and throttled.
Every failed request counts: a 404 for an object the client wrote and did not delete, a stale or missing
listing entry, a 503, an exception.
"""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest
from storage_node.schemas import ClusterMap, NodeFlag

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable
from tests.workload import Workload


class _Walk:
    """Drives one cluster through every transition while recording when each rebalance ran."""

    def __init__(self, cluster: Cluster, throttle: int | None) -> None:
        self.cluster = cluster
        self.throttle = throttle
        self.version = 1
        self.reb = 1
        self.flags: dict[str, list[NodeFlag]] = {}
        self.members = list(cluster.nodes)
        self.reachable = set(cluster.nodes)
        self.joining: set[str] = set()
        self.windows: list[tuple[float, float]] = []
        self.log: list[str] = []
        self.rnd = random.Random(7)
        self._lock = threading.Lock()

    def targets(self) -> list[str]:
        """What a client may send to now: every running node of the map (flagged ones too, they redirect)."""
        with self._lock:
            return [self.cluster.nodes[n].url for n in self.members if n in self.reachable and n not in self.joining]

    def _map(self, *, new_rebalance: bool) -> ClusterMap:
        self.version += 1
        if new_rebalance:
            self.reb += 1
        return self.cluster.make_map(self.version, self.reb, self.flags, self.members)

    def _push_skewed(self, cmap: ClusterMap) -> None:
        """Install the map node by node, in a random order, 0.3 s apart: clients meet mixed versions."""
        order = [n for n in cmap.nodes if n in self.reachable]
        self.rnd.shuffle(order)
        for i, node_id in enumerate(order):
            if i:
                time.sleep(0.3)
            self.cluster.push_map(cmap, [node_id])
        self.cluster.map = cmap

    def change(self, *, new_rebalance: bool = True) -> None:
        """Publish a map built from the current flags and members, and wait for its rebalance to finish."""
        cmap = self._map(new_rebalance=new_rebalance)
        start = time.monotonic()
        self._push_skewed(cmap)
        if new_rebalance:
            self.cluster.wait_rebalance(f"g{self.reb}", 240.0)
        self.windows.append((start, time.monotonic()))
        self.log.append(f"v{cmap.version} g{self.reb} {self.flags} {self.members}: {start:.2f}-{time.monotonic():.2f}")

    def throttle_all(self) -> None:
        if self.throttle is not None:
            for n in self.reachable:
                self.cluster.set_bandwidth(self.cluster.nodes[n], self.throttle, concurrency=2)

    # ---- the lifecycle, as the operator carries it out ---------------------------------------------

    def start_maintenance(self, node: str) -> None:
        self.flags[node] = [NodeFlag.maintenance]
        self.change()

    def stop_maintenance(self, node: str) -> None:
        self.flags.pop(node, None)
        self.change()

    def shutdown(self, node: str) -> None:
        self.start_maintenance(node)
        with self._lock:
            self.reachable.discard(node)
        self.cluster.terminate(self.cluster.nodes[node])

    def restart(self, node: str) -> None:
        """RESTART from shutdown: the process comes back on its disks, still in maintenance."""
        self.cluster.start(self.cluster.nodes[node])
        with self._lock:
            self.reachable.add(node)
        self.throttle_all()
        self.cluster.push_map(self.cluster.map or self._map(new_rebalance=False), [node])

    def decommission(self, node: str) -> None:
        """Rebalance off (decommission flag), then out of the map, then cleanup with user data."""
        self.flags[node] = [NodeFlag.decommission]
        self.change()
        with self._lock:
            self.members.remove(node)
        self.flags.pop(node)
        self.change(new_rebalance=False)
        with self.cluster.client(self.cluster.nodes[node]) as c:
            c.cleanup(rm_user_data=True)
        with self._lock:
            self.reachable.discard(node)
        self.cluster.terminate(self.cluster.nodes[node])

    def join(self, node: str) -> None:
        self.cluster.add_node(node)
        self.throttle_all()
        with self._lock:
            self.joining.add(node)  # clients send to it once it is online, after its join (redirects before)
            self.members.append(node)
            self.reachable.add(node)
        self.change()
        with self._lock:
            self.joining.discard(node)


@pytest.mark.parametrize("throttle", [None, 4 << 20], ids=["unthrottled", "throttled"])
def test_clients_see_no_failure_through_every_transition(cluster: Cluster, throttle: int | None) -> None:
    urls = cluster.form(4)
    stable = upload(urls, mixed_sizes(1200 if throttle else 600, seed=11))
    walk = _Walk(cluster, throttle)
    walk.throttle_all()

    with Workload(BUCKET, walk.targets, threads=4, keys=50, stable=stable, seed=1) as clients:
        time.sleep(1.0)
        walk.start_maintenance("n1")
        walk.stop_maintenance("n1")
        walk.shutdown("n2")
        walk.restart("n2")
        walk.stop_maintenance("n2")
        walk.decommission("n3")
        walk.join("n4")
        time.sleep(1.0)

    during = clients.overlapping(walk.windows)
    assert not clients.failures, clients.summary() + "\n" + "\n".join(walk.log)
    assert clients.requests > 1000, clients.requests
    # the windows are long enough that a good share of the traffic meets a map change or a moving object
    assert during >= clients.requests // 3, (during, clients.requests)

    expected = {**stable, **clients.live()}
    cluster.assert_in_place(expected)
    running = walk.targets()
    verify_readable(running[:2], expected)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for key in clients.deleted():
            assert http.get(f"{running[0]}/v1/objects/{BUCKET}/{key}").status_code == 404, f"{key} came back"
