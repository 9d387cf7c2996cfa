"""Test-side helpers for the chart's monitoring objects: rendering them, the metric names they may use."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY
from storage_operator.clients import metrics as operator_metrics

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "ferry"
BUILD = ROOT / "hack" / "monitoring" / "build.sh"
KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")

#: Every monitoring object on.
ALL_ON = (
    "--set",
    "monitoring.serviceMonitor.enabled=true,monitoring.podMonitor.enabled=true,"
    "monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true",
)

#: The storage node's metrics (the node's /metrics), by the names the node exports them under.
NODE_METRICS = frozenset(
    {
        "ferry_node_http_requests_total",
        "ferry_node_http_request_duration_seconds",
        "ferry_node_objects",
        "ferry_node_stored_bytes",
        "ferry_node_mountpath_capacity_bytes",
        "ferry_node_mountpath_used_bytes",
        "ferry_node_mountpath_free_bytes",
        "ferry_node_rebalance_sent_objects_total",
        "ferry_node_rebalance_sent_bytes_total",
        "ferry_node_rebalance_received_objects_total",
        "ferry_node_rebalance_received_bytes_total",
        "ferry_node_rebalance_errors_total",
        "ferry_node_rebalance_runs_total",
        "ferry_node_rebalance_running",
        "ferry_node_rebalance_remaining_bytes",
        "ferry_node_corrupt_copies_total",
        "ferry_node_repaired_copies_total",
        "ferry_node_info",
    }
)
_HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")
_NAME = re.compile(r"\bferry_[a-z0-9_]+\b")
# what holds label names, not metric names: matchers, grouping clauses, label_values' second argument
_LABEL_PLACES = re.compile(
    r"\{[^}]*\}|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|,\s*[a-z_]+\s*\)\s*$"
)


_SERIES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def operator_metric_names() -> frozenset[str]:
    """The operator's series names as its registry exposes them (a counter's with `_total`, a histogram's each)."""
    assert operator_metrics.STATUSES is not None  # importing the module registered every operator metric
    return frozenset(
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("ferry_")
        for suffix in _SERIES[family.type]
    )


def metric_names(exprs: Iterable[str]) -> set[str]:
    """The `ferry_*` metric names used by PromQL expressions (a histogram's series by the histogram's name)."""
    found: set[str] = set()
    for expr in exprs:
        for name in _NAME.findall(_LABEL_PLACES.sub(" ", expr)):
            base = _HISTOGRAM_SERIES.sub("", name)
            found.add(base if base in NODE_METRICS else name)
    return found


def helm_template(helm: Path, *args: str, namespace: str = "storage") -> list[dict[str, Any]]:
    """`helm template` of the chart with extra arguments; the manifests (the test fails on a helm error)."""
    proc = subprocess.run(
        [str(helm), "template", "ferry", str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def tools() -> Path:
    """The cache dir of prometheus-operator's CRDs (`crds/`) and Prometheus's rule checker (`rulecheck`)."""
    out = subprocess.run([str(BUILD)], check=True, capture_output=True, text=True, timeout=1800)
    return Path(out.stdout.strip().splitlines()[-1])
