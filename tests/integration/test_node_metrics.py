"""A real node's /metrics: the documented names and types, request counts and durations, filesystem space."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.integration.harness import BUCKET, Cluster, payload
from tests.monitoring import NODE_METRICS

# family name (as the parser gives it: counters without _total) -> type; docs/metrics.md lists the same
DOCUMENTED = {
    "ferry_node_http_requests": "counter",
    "ferry_node_http_request_duration_seconds": "histogram",
    "ferry_node_objects": "gauge",
    "ferry_node_stored_bytes": "gauge",
    "ferry_node_mountpath_capacity_bytes": "gauge",
    "ferry_node_mountpath_used_bytes": "gauge",
    "ferry_node_mountpath_free_bytes": "gauge",
    "ferry_node_rebalance_sent_objects": "counter",
    "ferry_node_rebalance_sent_bytes": "counter",
    "ferry_node_rebalance_received_objects": "counter",
    "ferry_node_rebalance_received_bytes": "counter",
    "ferry_node_rebalance_errors": "counter",
    "ferry_node_rebalance_runs": "counter",
    "ferry_node_rebalance_running": "gauge",
    "ferry_node_rebalance_remaining_bytes": "gauge",
    "ferry_node_corrupt_copies": "counter",
    "ferry_node_repaired_copies": "counter",
    "ferry_node_info": "gauge",
}
OBJECT_ROUTE = "/v1/objects/{bucket}/{name}"


def scrape(url: str) -> tuple[dict[str, str], list[Sample]]:
    """(family name -> type, every sample) of a node's /metrics."""
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    types: dict[str, str] = {}
    samples: list[Sample] = []
    for family in text_string_to_metric_families(r.text):
        types[family.name] = family.type
        samples += family.samples
    return types, samples


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample of `name` with exactly these labels."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, [s for s in samples if s.name == name])
    return found[0]


def close(measured: float, expected: float, tolerance: float) -> bool:
    return abs(measured - expected) <= tolerance


def test_names_types_requests_and_space(cluster: Cluster) -> None:
    node = cluster.add_node("n0", 2)  # two mountpaths on one filesystem
    cluster.push_map(cluster.make_map(1, 1))
    with cluster.client(node) as c:
        c.create_bucket(BUCKET)
    sizes = {f"photos/p{i}": 1000 * (i + 1) for i in range(5)}
    with httpx.Client(base_url=node.url, timeout=30) as http:
        for name, size in sizes.items():
            assert http.put(f"/v1/objects/{BUCKET}/{name}", content=payload(name, size)).status_code == 200
        for name in list(sizes)[:3]:
            assert http.get(f"/v1/objects/{BUCKET}/{name}").status_code == 200
        assert http.get("/no/such/route").status_code == 404

    types, samples = scrape(node.url)
    exported = {
        n + ("_total" if t == "counter" else "")
        for n, t in types.items()
        if n.startswith("ferry_node_") and not n.endswith("_created")  # a counter's creation time, not a metric
    }
    assert exported == NODE_METRICS, "the chart's dashboard and alerts are checked against tests/monitoring.py"
    for name, kind in DOCUMENTED.items():
        assert types.get(name) == kind, (name, types.get(name))

    # every request counted once under its route template, never the raw path
    put_count = value(samples, "ferry_node_http_request_duration_seconds_count", method="PUT", route=OBJECT_ROUTE)
    assert put_count == 5
    assert value(samples, "ferry_node_http_request_duration_seconds_count", method="GET", route=OBJECT_ROUTE) == 3
    assert value(samples, "ferry_node_http_requests_total", method="PUT", route=OBJECT_ROUTE, code="200") == 5
    assert value(samples, "ferry_node_http_requests_total", method="GET", route="unmatched", code="404") == 1
    inf = value(samples, "ferry_node_http_request_duration_seconds_bucket", method="PUT", route=OBJECT_ROUTE, le="+Inf")
    assert inf == 5
    put_sum = value(samples, "ferry_node_http_request_duration_seconds_sum", method="PUT", route=OBJECT_ROUTE)
    assert 0 < put_sum < 30
    bounds = {s.labels["le"] for s in samples if s.name == "ferry_node_http_request_duration_seconds_bucket"}
    assert {"0.001", "30.0", "+Inf"} <= bounds
    routes = {s.labels.get("route") for s in samples if s.name == "ferry_node_http_requests_total"}
    assert not any("photos" in str(r) for r in routes), routes

    assert value(samples, "ferry_node_objects") == 5
    assert value(samples, "ferry_node_stored_bytes") == sum(sizes.values())
    assert value(samples, "ferry_node_info", node="n0", version="0.1.0") == 1
    assert value(samples, "ferry_node_rebalance_running") == 0
    assert value(samples, "ferry_node_rebalance_remaining_bytes") == 0
    assert value(samples, "ferry_node_rebalance_runs_total") == 1

    for mp in node.mountpaths:
        path = str(mp.resolve())
        st = os.statvfs(path)
        size = st.f_blocks * st.f_frsize
        tolerance = max(64 << 20, size // 100)  # the disk is shared with other work that writes meanwhile
        assert value(samples, "ferry_node_mountpath_capacity_bytes", mountpath=path) == size
        used = value(samples, "ferry_node_mountpath_used_bytes", mountpath=path)
        assert close(used, (st.f_blocks - st.f_bfree) * st.f_frsize, tolerance)
        free = value(samples, "ferry_node_mountpath_free_bytes", mountpath=path)
        assert close(free, st.f_bavail * st.f_frsize, tolerance)

    # the status counts the one filesystem once
    with cluster.client(node) as c:
        cap = c.status().capacity
    assert cap is not None
    assert [m.path for m in cap.mountpaths] == [str(mp.resolve()) for mp in node.mountpaths]
    assert cap.capacity_bytes == cap.mountpaths[0].capacity_bytes == cap.mountpaths[1].capacity_bytes


def test_capacity_of_two_filesystems(cluster: Cluster, tmpfs: Callable[[Path, str], Path]) -> None:
    small = tmpfs(cluster.root / "n0" / "mp1", "8m")
    node = cluster.add_node("n0", 2)  # mp0 on the test's disk, mp1 on the tmpfs
    assert node.mountpaths[1] == small
    with cluster.client(node) as c:
        cap = c.status().capacity
    assert cap is not None
    disk, fs = cap.mountpaths
    assert fs.path == str(small.resolve()) and fs.capacity_bytes == 8 << 20
    assert fs.used_bytes + fs.free_bytes == 8 << 20  # tmpfs reserves nothing
    assert cap.capacity_bytes == disk.capacity_bytes + fs.capacity_bytes
    assert close(cap.free_bytes, disk.free_bytes + fs.free_bytes, 64 << 20)
    _, samples = scrape(node.url)
    assert value(samples, "ferry_node_mountpath_capacity_bytes", mountpath=fs.path) == 8 << 20
    st = os.statvfs(small)
    assert value(samples, "ferry_node_mountpath_free_bytes", mountpath=fs.path) == st.f_bavail * st.f_frsize
