"""Prometheus metrics of a node (one registry per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry()

REQUESTS = Counter("ferry_requests", "HTTP requests served", ["method", "route", "code"], registry=REGISTRY)
OBJECTS = Gauge("ferry_objects", "Objects stored on this node", registry=REGISTRY)
BYTES = Gauge("ferry_bytes", "Bytes of object data stored on this node", registry=REGISTRY)
REB_OBJECTS_SENT = Counter("ferry_rebalance_objects_sent", "Objects sent by rebalance", registry=REGISTRY)
REB_BYTES_SENT = Counter("ferry_rebalance_bytes_sent", "Bytes sent by rebalance", registry=REGISTRY)
REB_OBJECTS_RECEIVED = Counter("ferry_rebalance_objects_received", "Objects received by rebalance", registry=REGISTRY)
REB_BYTES_RECEIVED = Counter("ferry_rebalance_bytes_received", "Bytes received by rebalance", registry=REGISTRY)
REB_ERRORS = Counter("ferry_rebalance_errors", "Rebalance transfer errors", registry=REGISTRY)
REB_RUNS = Counter("ferry_rebalance_runs", "Rebalances started on this node", registry=REGISTRY)
