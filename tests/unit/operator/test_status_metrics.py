"""The operator's /metrics shows each object's current conditions and each node's state, and nothing stale."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from storage_operator.clients import metrics
from storage_operator.model.statuses import ClusterStatus, NodeStatus
from storage_operator.plan.passes import Pass
from storage_operator.steps import statuses

from tests.unit.operator.fakes import FakeKube, FixedClock

Series = set[tuple[tuple[str, str], ...]]


def scrape(name: str, namespace: str) -> Series:
    """The label sets of metric `name` for `namespace`, as Prometheus would read them (values must be 1)."""
    out: Series = set()
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("namespace") == namespace:
                assert sample.value == 1
                out.add(tuple(sorted(sample.labels.items())))
    return out


def cond(kind: str, ns: str, name: str, type_: str, status: str, reason: str, cluster: str = "c1") -> Any:
    labels = {"kind": kind, "namespace": ns, "cluster": cluster, "name": name}
    labels |= {"type": type_, "status": status, "reason": reason}
    return tuple(sorted(labels.items()))


def condition(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": ""}


def test_report_exports_every_condition_and_node_state() -> None:
    ns = "metrics-report"
    cluster = {"metadata": {"name": "c1", "namespace": ns, "generation": 1}, "spec": {}}
    nodes = [
        {
            "metadata": {"name": n, "namespace": ns, "generation": 1},
            "spec": {"cluster": "c1", "state": "online"},
            "status": {},
        }
        for n in ("n1", "n2")
    ]
    p = Pass.observed(cluster, nodes, pods={}, pvcs={}, reports={}, clock=FixedClock())
    asyncio.run(statuses.report(FakeKube(), p, stall_seconds=60))

    conditions = scrape(metrics.CONDITION, ns)
    kinds = {(dict(s)["kind"], dict(s)["name"]) for s in conditions}
    assert kinds == {("StorageCluster", "c1"), ("StorageNode", "n1"), ("StorageNode", "n2")}
    for kind, name in kinds:  # one series per condition type: Ready, Progressing, Degraded
        types = sorted(dict(s)["type"] for s in conditions if (dict(s)["kind"], dict(s)["name"]) == (kind, name))
        assert types == ["Degraded", "Progressing", "Ready"]
    # not a member yet: the nodes wait for their turn to join, and the gauges say so
    assert cond("StorageNode", ns, "n1", "Ready", "False", "WaitingForTurn") in conditions
    assert cond("StorageCluster", ns, "c1", "Degraded", "False", "Healthy") in conditions
    assert {(dict(s)["name"], dict(s)["phase"]) for s in scrape(metrics.NODE_STATE, ns)} == {
        ("n1", "Waiting"),
        ("n2", "Waiting"),
    }


def _cluster(conditions: list[dict[str, Any]]) -> ClusterStatus:
    return ClusterStatus.from_status({"conditions": conditions})


def test_a_changed_condition_replaces_its_series() -> None:
    ns = "metrics-change"
    snap = metrics.STATUSES
    ready = {"state": "online", "phase": "Ready", "conditions": [condition("Ready", "True", "StateReached")]}
    snap.observe(ns, "c1", _cluster([condition("Degraded", "False", "Healthy")]), {"n1": NodeStatus.from_status(ready)})
    stalled = {
        "state": "online",
        "phase": "Rebalancing",
        "conditions": [
            condition("Ready", "False", "TransitionInProgress"),
            condition("Degraded", "True", "RebalanceStalled"),
        ],
    }
    snap.observe(
        ns, "c1", _cluster([condition("Degraded", "True", "RebalanceStalled")]), {"n1": NodeStatus.from_status(stalled)}
    )

    assert scrape(metrics.CONDITION, ns) == {
        cond("StorageCluster", ns, "c1", "Degraded", "True", "RebalanceStalled"),
        cond("StorageNode", ns, "n1", "Ready", "False", "TransitionInProgress"),
        cond("StorageNode", ns, "n1", "Degraded", "True", "RebalanceStalled"),
    }
    assert scrape(metrics.NODE_STATE, ns) == {
        (("cluster", "c1"), ("name", "n1"), ("namespace", ns), ("phase", "Rebalancing"), ("state", "online"))
    }


def test_a_removed_node_and_a_forgotten_cluster_leave_no_series() -> None:
    ns = "metrics-gone"
    snap = metrics.STATUSES
    raw = {"state": "online", "phase": "Ready", "conditions": [condition("Ready", "True", "StateReached")]}
    node = NodeStatus.from_status(raw)
    snap.observe(ns, "c1", ClusterStatus(), {"n1": node, "n2": node})
    snap.observe(ns, "c2", ClusterStatus(), {"m1": node})
    snap.observe(ns, "c1", ClusterStatus(), {"n1": node})
    assert {dict(s)["name"] for s in scrape(metrics.CONDITION, ns)} == {"n1", "m1"}
    assert {dict(s)["name"] for s in scrape(metrics.NODE_STATE, ns)} == {"n1", "m1"}

    snap.forget(ns, "c1")
    assert {dict(s)["name"] for s in scrape(metrics.CONDITION, ns)} == {"m1"}
    assert {dict(s)["name"] for s in scrape(metrics.NODE_STATE, ns)} == {"m1"}


def test_a_node_that_never_joined_shows_an_empty_state() -> None:
    ns = "metrics-new"
    metrics.STATUSES.observe(ns, "c1", ClusterStatus(), {"n1": NodeStatus()})
    assert scrape(metrics.NODE_STATE, ns) == {
        (("cluster", "c1"), ("name", "n1"), ("namespace", ns), ("phase", ""), ("state", ""))
    }
    assert scrape(metrics.CONDITION, ns) == set()
