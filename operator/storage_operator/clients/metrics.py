"""The operator's Prometheus metrics (prometheus-client) and the HTTP endpoint that serves them.

Besides counters of its own work, the operator exports what its status writes say, so that alerts need not
read the API: ``ferry_operator_condition`` (1 for each current condition of each StorageCluster and
StorageNode), ``ferry_operator_storagenode_state`` (1 for each node's effective state and phase),
``ferry_cluster_copies`` (K, as the cluster map asks) and ``ferry_cluster_objects_below_copies`` (the
estimate of objects with fewer than K reachable copies, ``plan.reachable``). All are a snapshot per
StorageCluster, replaced whole by each report (``observe``) and dropped when the cluster goes (``forget``): a
changed condition or a removed node leaves no stale series behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from storage_operator.model.statuses import ClusterStatus, NodeStatus

TRANSITIONS = Counter("ferry_transitions_total", "Completed node lifecycle transitions", ["operation"])
REBALANCE_SECONDS = Histogram(
    "ferry_rebalance_duration_seconds",
    "Duration of completed global rebalances",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RECONCILE_SECONDS = Histogram("ferry_reconcile_duration_seconds", "Duration of one StorageCluster reconcile pass")
RECONCILE_ERRORS = Counter("ferry_reconcile_errors_total", "Reconcile passes that raised an error")

CONDITION = "ferry_operator_condition"
NODE_STATE = "ferry_operator_storagenode_state"
CONDITION_LABELS = ("kind", "namespace", "cluster", "name", "type", "status", "reason")
NODE_STATE_LABELS = ("namespace", "cluster", "name", "state", "phase")
COPIES = "ferry_cluster_copies"
BELOW_COPIES = "ferry_cluster_objects_below_copies"
CLUSTER_LABELS = ("namespace", "cluster")

Labels = tuple[str, ...]


class Snapshot:
    """The series of the status gauges as the last report of each StorageCluster left them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[tuple[str, str], list[Labels]] = {}
        self._states: dict[tuple[str, str], list[Labels]] = {}
        self._figures: dict[tuple[str, str], tuple[int | None, int | None]] = {}  # (copies, objects below)

    def observe(self, namespace: str, cluster: str, status: ClusterStatus, nodes: Mapping[str, NodeStatus]) -> None:
        """Replace the cluster's series with those of its status and its nodes' statuses (by node name)."""
        conds = _conditions("StorageCluster", namespace, cluster, cluster, status.conditions or ())
        states: list[Labels] = []
        for name, node in sorted(nodes.items()):
            conds += _conditions("StorageNode", namespace, cluster, name, node.conditions)
            state = node.state.value if node.state is not None else ""
            states.append((namespace, cluster, name, state, node.phase or ""))
        copies = status.map.copies if status.map is not None else None
        with self._lock:
            self._conditions[(namespace, cluster)] = conds
            self._states[(namespace, cluster)] = states
            self._figures[(namespace, cluster)] = (copies, status.objects_below_copies)

    def forget(self, namespace: str, cluster: str) -> None:
        """Drop the series of a StorageCluster that is gone."""
        with self._lock:
            self._conditions.pop((namespace, cluster), None)
            self._states.pop((namespace, cluster), None)
            self._figures.pop((namespace, cluster), None)

    def series(self) -> tuple[list[Labels], list[Labels]]:
        """The current label sets of both gauges (conditions, node states)."""
        with self._lock:
            return (
                [s for key in sorted(self._conditions) for s in self._conditions[key]],
                [s for key in sorted(self._states) for s in self._states[key]],
            )

    def figures(self) -> list[tuple[Labels, int | None, int | None]]:
        """Each cluster's labels with its copies and its objects below them (None: not known)."""
        with self._lock:
            return [(key, *self._figures[key]) for key in sorted(self._figures)]


def _conditions(
    kind: str, namespace: str, cluster: str, name: str, conditions: Iterable[Mapping[str, Any]]
) -> list[Labels]:
    return [
        (kind, namespace, cluster, name, str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""))
        for c in conditions
    ]


class _StatusCollector(Collector):
    """Collects the status gauges from a snapshot at scrape time."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        conds, states = self.snapshot.series()
        condition = GaugeMetricFamily(
            CONDITION, "Current status conditions of StorageClusters and StorageNodes (1)", labels=CONDITION_LABELS
        )
        for labels in conds:
            condition.add_metric(labels, 1)
        node_state = GaugeMetricFamily(
            NODE_STATE, "Effective lifecycle state and phase of each StorageNode (1)", labels=NODE_STATE_LABELS
        )
        for labels in states:
            node_state.add_metric(labels, 1)
        copies = GaugeMetricFamily(COPIES, "Copies of each object the cluster map asks for (K)", labels=CLUSTER_LABELS)
        below = GaugeMetricFamily(
            BELOW_COPIES,
            "Objects with fewer than K reachable copies, estimated from unavailable nodes' object counts",
            labels=CLUSTER_LABELS,
        )
        for labels, k, n in self.snapshot.figures():
            if k is not None:
                copies.add_metric(labels, k)
            if n is not None:
                below.add_metric(labels, n)
        yield condition
        yield node_state
        yield copies
        yield below


STATUSES = Snapshot()
REGISTRY.register(_StatusCollector(STATUSES))


def serve_from_env() -> int | None:
    """Serve /metrics on FERRY_METRICS_PORT (address FERRY_METRICS_ADDR, else POD_IP, else loopback)."""
    port = os.environ.get("FERRY_METRICS_PORT")
    if not port:
        return None
    addr = os.environ.get("FERRY_METRICS_ADDR") or os.environ.get("POD_IP") or "127.0.0.1"
    start_http_server(int(port), addr=addr)
    return int(port)
