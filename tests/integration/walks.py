"""The lifecycle as the operator carries it out, on real node processes, with maps that reach nodes one by one.

`Walk` publishes each map node by node in a random order with pauses between them, so nodes hold different
map versions while clients keep going, and records when each map change and its rebalance ran (so a test can
tell how many requests met one). Shared by the client tests and the client benchmark.

A node leaves as its pod does under the operator: once its rebalance is over (shutdown), or once it is cleaned
up and out of the map (decommission), its process is stopped (SIGTERM: in-flight requests finish, new
connections are refused) at the moment clients stop picking it, with no grace between the two — the operator
deletes the pod and a client watching pods sees it terminating at once. A request sent or redirected to it after
that, a listing paging on included, cannot connect: `gone` tells a workload so, and it is counted apart.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Iterator

from storage_node.schemas import ClusterMap, NodeFlag

from tests.integration.harness import Cluster


class Walk:
    """Drives one cluster through every transition while recording when each rebalance ran."""

    def __init__(self, cluster: Cluster, throttle: int | None, skew: float = 0.3) -> None:
        """Take over a formed cluster (map v1, rebalance g1); `throttle` in bytes/s, `skew` between installs."""
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
        self.skew = skew
        self.kinds: list[tuple[str, float, float]] = []  # (transition kind, start, end)
        self.away: dict[str, list[tuple[float, float]]] = {}  # url -> (from, to) spans its process was gone
        self._lock = threading.Lock()
        self._in_kind = False

    def targets(self) -> list[str]:
        """What a client may send to now: every running node of the map (flagged ones too, they redirect)."""
        with self._lock:
            return [self.cluster.nodes[n].url for n in self.members if n in self.reachable and n not in self.joining]

    def hide(self, node: str) -> None:
        """Clients stop picking `node`, and from now on it is gone (its process goes at this moment)."""
        with self._lock:
            self.reachable.discard(node)
            self.away.setdefault(self.cluster.nodes[node].url, []).append((time.monotonic(), math.inf))

    def show(self, node: str) -> None:
        """Clients may pick `node` again (its process is back)."""
        with self._lock:
            self.reachable.add(node)
            spans = self.away.get(self.cluster.nodes[node].url)
            if spans and spans[-1][1] == math.inf:
                spans[-1] = (spans[-1][0], time.monotonic())

    def gone(self, url: str, at: float) -> bool:
        """Whether the process at `url` was gone (stopping, or not running) at monotonic time `at`."""
        with self._lock:
            return any(start <= at <= end for start, end in self.away.get(url, []))

    def next_map(self, *, new_rebalance: bool) -> ClusterMap:
        """The next map version from the current flags and members (a new rebalance id if asked)."""
        self.version += 1
        if new_rebalance:
            self.reb += 1
        return self.cluster.make_map(self.version, self.reb, self.flags, self.members)

    def push_skewed(self, cmap: ClusterMap) -> None:
        """Install the map node by node, in a random order, `skew` apart: clients meet mixed versions."""
        order = [n for n in cmap.nodes if n in self.reachable]
        self.rnd.shuffle(order)
        for i, node_id in enumerate(order):
            if i:
                time.sleep(self.skew)
            self.cluster.push_map(cmap, [node_id])
        self.cluster.map = cmap

    def change(self, *, new_rebalance: bool = True) -> None:
        """Publish a map built from the current flags and members, and wait for its rebalance to finish."""
        cmap = self.next_map(new_rebalance=new_rebalance)
        start = time.monotonic()
        self.push_skewed(cmap)
        if new_rebalance:
            self.cluster.wait_rebalance(f"g{self.reb}", 240.0)
        self.windows.append((start, time.monotonic()))
        self.log.append(f"v{cmap.version} g{self.reb} {self.flags} {self.members}: {start:.2f}-{time.monotonic():.2f}")

    def throttle_all(self) -> None:
        """Apply the throttle to every running node (a restarted or new one starts unthrottled)."""
        if self.throttle is not None:
            for n in self.reachable:
                self.cluster.set_bandwidth(self.cluster.nodes[n], self.throttle, concurrency=2)

    @contextlib.contextmanager
    def _kind(self, kind: str) -> Iterator[None]:
        """Record the span of one transition (the outermost one when they nest)."""
        outer = not self._in_kind
        self._in_kind = True
        start = time.monotonic()
        try:
            yield
        finally:
            if outer:
                self._in_kind = False
                self.kinds.append((kind, start, time.monotonic()))

    # ---- the lifecycle, as the operator carries it out ---------------------------------------------

    def start_maintenance(self, node: str) -> None:
        with self._kind("start-maintenance"):
            self.flags[node] = [NodeFlag.maintenance]
            self.change()

    def stop_maintenance(self, node: str) -> None:
        with self._kind("stop-maintenance"):
            self.flags.pop(node, None)
            self.change()

    def shutdown(self, node: str) -> None:
        with self._kind("shutdown"):
            self._shutdown(node)

    def _shutdown(self, node: str) -> None:
        self.start_maintenance(node)
        self._retire(node)

    def _retire(self, node: str) -> None:
        """Its process is stopped (SIGTERM) as clients stop picking it: the operator deletes its pod."""
        self.hide(node)
        self.cluster.terminate(self.cluster.nodes[node])

    def shutdown_killed(self, node: str, slow: int = 1 << 20, away: float = 2.0) -> None:
        """SHUTDOWN whose node is killed (-9) mid-rebalance, still holding data, and back on its disks `away` s later.

        Its data leaves at `slow` bytes/s so the kill cuts the rebalance short; the other nodes cannot tell what
        it holds until it is back (a pod re-created by its operator), then its rebalance resumes and it retires.
        """
        with self._kind("killed-mid-rebalance"):
            victim = self.cluster.nodes[node]
            self.cluster.set_bandwidth(victim, slow, concurrency=1)
            self.flags[node] = [NodeFlag.maintenance]
            cmap = self.next_map(new_rebalance=True)
            start = time.monotonic()
            self.push_skewed(cmap)
            assert not self.cluster.rebalance_done(f"g{self.reb}"), "the kill should cut a rebalance short"
            self.hide(node)  # a crash: gone from this moment until its pod is back
            self.cluster.kill(victim)
            time.sleep(away)
            self.cluster.start(victim)
            self.show(node)
            if self.throttle is not None:
                self.cluster.set_bandwidth(victim, self.throttle, concurrency=2)
            self.cluster.push_map(cmap, [node])
            self.cluster.wait_rebalance(f"g{self.reb}", 240.0)
            self.windows.append((start, time.monotonic()))
            self.log.append(f"v{cmap.version} g{self.reb} killed {node}: {start:.2f}-{time.monotonic():.2f}")
            self._retire(node)

    def restart(self, node: str) -> None:
        """RESTART from shutdown: the process comes back on its disks, still in maintenance."""
        with self._kind("restart"):
            self._restart(node)

    def _restart(self, node: str) -> None:
        self.cluster.start(self.cluster.nodes[node])
        self.show(node)
        self.throttle_all()
        self.cluster.push_map(self.cluster.map or self.next_map(new_rebalance=False), [node])

    def decommission(self, node: str) -> None:
        """Rebalance off (decommission flag), then out of the map, then cleanup with user data."""
        with self._kind("decommission"):
            self._decommission(node)

    def _decommission(self, node: str) -> None:
        """As the operator does: rebalance off, cleanup (with user data), out of the map, then the pod goes."""
        self.flags[node] = [NodeFlag.decommission]
        self.change()
        with self.cluster.client(self.cluster.nodes[node]) as c:
            c.cleanup(rm_user_data=True)
        with self._lock:
            self.members.remove(node)
        self.flags.pop(node)
        self.change(new_rebalance=False)
        self._retire(node)

    def join(self, node: str) -> None:
        """A new node: started, then added to the map with a rebalance that fills it."""
        with self._kind("join"):
            self._join(node)

    def _join(self, node: str) -> None:
        self.cluster.add_node(node)
        self.throttle_all()
        with self._lock:
            self.joining.add(node)  # clients send to it once it is online, after its join (redirects before)
            self.members.append(node)
            self.reachable.add(node)
        self.change()
        with self._lock:
            self.joining.discard(node)
