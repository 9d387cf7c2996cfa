"""The operator's Prometheus metrics (prometheus-client) and the HTTP endpoint that serves them."""

from __future__ import annotations

import os

from prometheus_client import Counter, Histogram, start_http_server

TRANSITIONS = Counter("ferry_transitions_total", "Completed node lifecycle transitions", ["operation"])
REBALANCE_SECONDS = Histogram(
    "ferry_rebalance_duration_seconds",
    "Duration of completed global rebalances",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RECONCILE_SECONDS = Histogram("ferry_reconcile_duration_seconds", "Duration of one StorageCluster reconcile pass")
RECONCILE_ERRORS = Counter("ferry_reconcile_errors_total", "Reconcile passes that raised an error")


def serve_from_env() -> int | None:
    """Serve /metrics on FERRY_METRICS_PORT (address FERRY_METRICS_ADDR, else POD_IP, else loopback)."""
    port = os.environ.get("FERRY_METRICS_PORT")
    if not port:
        return None
    addr = os.environ.get("FERRY_METRICS_ADDR") or os.environ.get("POD_IP") or "127.0.0.1"
    start_http_server(int(port), addr=addr)
    return int(port)
