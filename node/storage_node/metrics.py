"""Prometheus metrics of a node (one registry per process), named as docs/metrics.md lists them.

Counters and the request histogram change as things happen; every gauge is read at scrape time by
`NodeCollector` (objects, bytes, filesystem space, rebalance), so there is nothing to keep in step.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage_node.schemas import NodeCapacity

REGISTRY = CollectorRegistry()

#: Request durations from 1 ms to 30 s (long polls of the rebalance status land in +Inf).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "ferry_node_http_requests",
    "HTTP requests served, by method, route template and status code",
    ["method", "route", "code"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "ferry_node_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body, by method and route template",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
REB_OBJECTS_SENT = Counter(
    "ferry_node_rebalance_sent_objects", "Objects this node handed to their proper node by rebalance", registry=REGISTRY
)
REB_BYTES_SENT = Counter(
    "ferry_node_rebalance_sent_bytes", "Bytes of the objects this node handed over by rebalance", registry=REGISTRY
)
REB_OBJECTS_RECEIVED = Counter(
    "ferry_node_rebalance_received_objects", "Objects installed on this node by rebalance", registry=REGISTRY
)
REB_BYTES_RECEIVED = Counter(
    "ferry_node_rebalance_received_bytes", "Bytes of the objects installed on this node by rebalance", registry=REGISTRY
)
REB_ERRORS = Counter(
    "ferry_node_rebalance_errors",
    "Rebalance transfer errors of this node as sender: a bundle that failed, or an object its receiver refused",
    registry=REGISTRY,
)
REB_RUNS = Counter("ferry_node_rebalance_runs", "Rebalances started on this node", registry=REGISTRY)
CORRUPT_COPIES = Counter(
    "ferry_node_corrupt_copies",
    "Copies on this node found not to match their checksum when read, and taken out of service",
    registry=REGISTRY,
)
REPAIRED_COPIES = Counter(
    "ferry_node_repaired_copies",
    "Copies found corrupt on this node and fetched again, verified, from another node",
    registry=REGISTRY,
)


def package_version() -> str:
    """The installed version of Ferry ("unknown" when run from a bare source tree)."""
    try:
        return importlib.metadata.version("ferry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Reading:
    """What a node reports at scrape time."""

    objects: int
    stored_bytes: int
    capacity: NodeCapacity
    rebalance_running: bool
    rebalance_remaining_bytes: int


class NodeCollector(Collector):
    """The node's gauges, read at every scrape from `read` (filesystem space by ``os.statvfs`` then)."""

    def __init__(self, node_id: str, read: Callable[[], Reading]) -> None:
        """Report for node `node_id`."""
        self._node_id = node_id
        self._read = read
        self._version = package_version()

    def collect(self) -> Iterator[Metric]:
        """The gauges, as of now."""
        r = self._read()
        info = GaugeMetricFamily("ferry_node_info", "Always 1: node id and Ferry version", labels=["node", "version"])
        info.add_metric([self._node_id, self._version], 1)
        yield info
        yield GaugeMetricFamily("ferry_node_objects", "Objects stored on this node", value=r.objects)
        yield GaugeMetricFamily(
            "ferry_node_stored_bytes", "Bytes of object data stored on this node", value=r.stored_bytes
        )
        families = {
            "capacity": GaugeMetricFamily(
                "ferry_node_mountpath_capacity_bytes",
                "Size of the filesystem holding the mountpath (statvfs f_blocks)",
                labels=["mountpath"],
            ),
            "used": GaugeMetricFamily(
                "ferry_node_mountpath_used_bytes",
                "Bytes in use on the filesystem holding the mountpath (statvfs f_blocks - f_bfree)",
                labels=["mountpath"],
            ),
            "free": GaugeMetricFamily(
                "ferry_node_mountpath_free_bytes",
                "Bytes the node may still write on the filesystem holding the mountpath (statvfs f_bavail)",
                labels=["mountpath"],
            ),
        }
        for mp in r.capacity.mountpaths:
            families["capacity"].add_metric([mp.path], mp.capacity_bytes)
            families["used"].add_metric([mp.path], mp.used_bytes)
            families["free"].add_metric([mp.path], mp.free_bytes)
        yield from families.values()
        yield GaugeMetricFamily(
            "ferry_node_rebalance_running",
            "1 while this node's part of a rebalance runs, else 0",
            value=1 if r.rebalance_running else 0,
        )
        yield GaugeMetricFamily(
            "ferry_node_rebalance_remaining_bytes",
            "Bytes this node still has to send in the running rebalance (0 when none runs)",
            value=r.rebalance_remaining_bytes,
        )


_bound: NodeCollector | None = None


def bind(node_id: str, read: Callable[[], Reading]) -> None:
    """Report the gauges of this process's node (a second node in the same process replaces the first)."""
    global _bound
    if _bound is not None:
        REGISTRY.unregister(_bound)
    _bound = NodeCollector(node_id, read)
    REGISTRY.register(_bound)
