"""Objects below K: what `kubectl get` and the metrics say while a node is down, given up, back, or K too large."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, NodeStatus, RebalanceStage, RebalanceStatus
from storage_operator.clients import metrics
from storage_operator.model import maps
from storage_operator.model.states import ClusterState
from storage_operator.plan import phases, reachable
from storage_operator.plan.passes import Pass
from storage_operator.steps import statuses

from tests.unit.operator.fakes import FakeKube, FixedClock

OBJECTS = {"node-1": 380, "node-2": 412, "node-3": 395}


def a_map(copies: int, flags: dict[str, list[NodeFlag]] | None = None, nodes: tuple[str, ...] = tuple(OBJECTS)) -> Any:
    entries = {n: NodeEntry(id=n, url="http://127.0.0.1:8080", flags=(flags or {}).get(n, [])) for n in nodes}
    return ClusterMap(version=4, rebalance_id="g2", nodes=entries, copies=copies)


def a_pass(namespace: str, copies: int, silent: tuple[str, ...], node_status: dict[str, dict[str, Any]]) -> Pass:
    """Three online nodes holding OBJECTS, K = `copies`; the `silent` ones' pods are Ready but do not answer."""
    nodes = [
        {
            "metadata": {"name": n, "namespace": namespace, "generation": 1},
            "spec": {"cluster": "c1", "state": "online"},
            "status": {"state": "online", "objects": k, **node_status.get(n, {})},
        }
        for n, k in OBJECTS.items()
    ]
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "127.0.0.1"}
    pods = {n: {"metadata": {"name": f"{n}-pod", "uid": n}, "status": ready} for n in OBJECTS}
    idle = RebalanceStatus(id="g2", stage=RebalanceStage.done)
    reports = {
        n: NodeStatus(id=n, mountpaths=[], objects=k, bytes=k * 100, map_version=4, rebalance=idle)
        for n, k in OBJECTS.items()
        if n not in silent
    }
    smap = maps.to_status(a_map(copies))
    cluster = {
        "metadata": {"name": "c1", "namespace": namespace, "generation": 1},
        "spec": {"redundancy": {"copies": copies}},
        "status": {"map": smap},
    }
    return Pass.observed(cluster, nodes, pods, pvcs={}, reports=reports, clock=FixedClock())


def reported(p: Pass) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The cluster's status and each node's as the report leaves them (status before, patched)."""
    kube = FakeKube()
    asyncio.run(statuses.report(kube, p, stall_seconds=60))
    cluster = dict(p.api_status)
    nodes = {str(n["metadata"]["name"]): dict(n["status"]) for n in p.nodes}
    for kind, name, body in kube.patches:
        target = cluster if kind == "StorageCluster" else nodes[name]
        target.update(body)
        for key in [k for k, v in target.items() if v is None]:
            del target[key]
    return cluster, nodes


def conditions(copies: int, estimate: reachable.Estimate, unavailable: tuple[str, ...] = ()) -> list[Any]:
    return phases.cluster_conditions(
        state=ClusterState.ONLINE,
        settled=True,
        pods_left=True,
        rebalancing=False,
        waiting="",
        stalled_since=None,
        rebalance_id="g2",
        unavailable=unavailable,
        copies=copies,
        estimate=estimate,
    )


def degraded(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Degraded")


def gauge(name: str, namespace: str) -> float | None:
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == {"namespace": namespace, "cluster": "c1"}:
                return float(sample.value)
    return None


def test_a_node_that_does_not_answer_puts_the_objects_it_last_reported_below_k_until_it_is_back() -> None:
    ns = "below-k-down"
    cluster, nodes = reported(a_pass(ns, 2, ("node-2",), {}))
    assert cluster["objectsBelowCopies"] == 412
    assert degraded(cluster)["reason"] == "RedundancyReduced"
    assert degraded(cluster)["message"] == "node-2 unavailable: about 412 objects have 1 of 2 copies"
    assert nodes["node-2"]["phase"] == "Unavailable"
    assert (nodes["node-2"]["reachableCopies"], nodes["node-2"]["objectsBelowCopies"]) == ("1/2", 412)
    assert (nodes["node-1"]["reachableCopies"], nodes["node-1"]["objectsBelowCopies"]) == ("2/2", 0)
    assert gauge(metrics.BELOW_COPIES, ns) == 412 and gauge(metrics.COPIES, ns) == 2

    cluster, nodes = reported(a_pass(ns, 2, (), {}))
    assert cluster["objectsBelowCopies"] == 0 and degraded(cluster)["status"] == "False"
    assert {n: s["reachableCopies"] for n, s in nodes.items()} == dict.fromkeys(OBJECTS, "2/2")
    assert gauge(metrics.BELOW_COPIES, ns) == 0


def test_with_one_copy_the_objects_of_a_node_down_cannot_be_read_and_are_counted() -> None:
    cluster, nodes = reported(a_pass("below-k-one", 1, ("node-3",), {}))
    assert cluster["objectsBelowCopies"] == 395
    assert degraded(cluster)["reason"] == "NodeUnavailable"
    assert degraded(cluster)["message"] == "node-3 unavailable: about 395 objects cannot be read until it is back"
    assert nodes["node-3"]["reachableCopies"] == "0/1"


def test_two_nodes_down_add_up_to_an_upper_bound_and_say_so() -> None:
    cluster, _ = reported(a_pass("below-k-two", 3, ("node-1", "node-2"), {}))
    assert cluster["objectsBelowCopies"] == 380 + 412
    message = degraded(cluster)["message"]
    assert message.startswith("node-1, node-2 unavailable: about 792 objects have fewer than 3 reachable copies")
    assert "at most" in message


def test_a_node_given_up_counts_while_its_copies_are_re_created_and_not_after() -> None:
    lost = a_map(2, {"node-2": [NodeFlag.lost]})

    def node_2(rebuilding: bool, before: int | None) -> int:
        seen = {n: reachable.Seen(objects=k, unavailable=n == "node-2", before=None) for n, k in OBJECTS.items()}
        seen["node-2"] = reachable.Seen(objects=412, unavailable=True, before=before)
        return reachable.estimate(lost, seen, rebuilding=rebuilding).below["node-2"]

    assert node_2(rebuilding=True, before=412) == 412  # the rebalance that re-creates its copies runs
    done = reachable.estimate(lost, {"node-2": reachable.Seen(412, True, 412)}, rebuilding=False)
    assert done.below["node-2"] == 0 and done.reachable["node-2"] == "2/2"  # re-created on the two others
    assert node_2(rebuilding=True, before=0) == 0  # a later rebalance (a join) does not count it again
    (down,) = [c for c in conditions(2, done, unavailable=("node-2",)) if c.type.value == "Degraded"]
    assert down.reason.value == "RedundancyReduced"
    assert down.message == "node-2 unavailable: every object has its 2 copies on the other nodes"


def test_k_larger_than_the_nodes_in_placement_is_accepted_and_reported_insufficient_nodes() -> None:
    smap = a_map(3, {"node-3": [NodeFlag.maintenance]})
    seen = {n: reachable.Seen(objects=k, unavailable=False, before=None) for n, k in OBJECTS.items()}
    estimate = reachable.estimate(smap, seen, rebuilding=False)
    assert estimate.total == 0 and estimate.held == 2
    assert estimate.reachable == {"node-1": "2/3", "node-2": "2/3"}  # node-3 holds nothing in maintenance
    (down,) = [c for c in conditions(3, estimate) if c.type.value == "Degraded"]
    assert down.status and down.reason.value == "InsufficientNodes"
    assert down.message == (
        "spec.redundancy.copies is 3 but only 2 nodes are eligible for placement: each object gets 2 copies"
    )
