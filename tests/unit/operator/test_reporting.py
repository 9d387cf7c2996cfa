"""Status writes: only what changed goes to the API server, and a reached state is always written."""

from __future__ import annotations

import asyncio
from typing import Any

from storage_operator.model.bodies import Body
from storage_operator.model.states import NodeState
from storage_operator.plan.passes import Outcome, Pass
from storage_operator.steps import statuses

from tests.unit.operator.fakes import FakeKube, FixedClock


def node(name: str, state: str | None) -> Body:
    status = {"state": state} if state else {}
    meta = {"name": name, "namespace": "ns", "generation": 1}
    return {"metadata": meta, "spec": {"cluster": "c1", "state": "online"}, "status": status}


def a_pass(nodes: list[Body], cluster_status: dict[str, Any] | None = None) -> Pass:
    cluster = {"metadata": {"name": "c1", "namespace": "ns", "generation": 1}, "spec": {}}
    if cluster_status is not None:
        cluster["status"] = cluster_status
    return Pass.observed(cluster, nodes, pods={}, pvcs={}, reports={}, clock=FixedClock())


def run(kube: FakeKube, p: Pass) -> None:
    asyncio.run(statuses.report(kube, p, stall_seconds=60))


def test_a_second_report_of_the_same_situation_writes_nothing() -> None:
    kube = FakeKube()
    p = a_pass([node("n1", None)])
    run(kube, p)
    assert {kind for kind, _, _ in kube.patches} == {"StorageCluster", "StorageNode"}
    written = {(kind, name): body for kind, name, body in kube.patches}
    # the next pass observes what was written: nothing is material, nothing is patched
    n1 = node("n1", None)
    n1["status"] = written[("StorageNode", "n1")]
    kube.calls.clear()
    run(kube, a_pass([n1], dict(written[("StorageCluster", "c1")])))
    assert kube.patches == []


def test_a_reached_state_is_written_with_the_node_status() -> None:
    kube = FakeKube()
    n1 = node("n1", None)
    p = a_pass([n1]).after(Outcome(reached={"n1": NodeState.ONLINE}))
    run(kube, p)
    node_patches = [body for kind, _, body in kube.patches if kind == "StorageNode"]
    assert len(node_patches) == 1 and node_patches[0]["state"] == "online"


def test_a_changed_cluster_status_is_written_and_none_removes_a_key() -> None:
    kube = FakeKube()
    held = {"rebalance": {"id": "g1"}, "transition": {"node": "n1"}}
    held = asyncio.run(statuses.write_cluster(kube, "ns", "c1", held, {}))
    assert kube.patches and kube.patches[0][2]["rebalance"] is None
    assert "rebalance" not in held and "transition" not in held
    kube.calls.clear()
    asyncio.run(statuses.write_cluster(kube, "ns", "c1", held, {}))
    assert kube.patches == []


def test_a_new_rebalance_replaces_the_old_one_whole() -> None:
    kube = FakeKube()
    old = {"id": "g3", "state": "completed", "finishedAt": "2026-01-01T00:00:00Z", "objectsSent": 7}
    new = {"lastRebalance": {"id": "g4", "state": "superseded"}}
    held = asyncio.run(statuses.write_cluster(kube, "ns", "c1", {"lastRebalance": old}, new))
    patch = kube.patches[0][2]["lastRebalance"]
    assert patch == {"id": "g4", "state": "superseded", "finishedAt": None, "objectsSent": None}
    assert held["lastRebalance"] == {"id": "g4", "state": "superseded"}


def test_a_cluster_being_decommissioned_is_reported_although_its_nodes_cannot_go_there_one_by_one() -> None:
    # a cluster-wide decommission takes every node to decommissioned whatever its spec says (online here);
    # node-level planning refuses decommissioned -> online, so the report must not ask the planner (nor the
    # capacity check) about such a node
    kube = FakeKube()
    n1 = node("n1", "decommissioned")
    cluster = {"metadata": {"name": "c1", "namespace": "ns", "generation": 2}, "spec": {"state": "decommissioned"}}
    run(kube, Pass.observed(cluster, [n1], pods={}, pvcs={}, reports={}, clock=FixedClock()))
    assert any(kind == "StorageCluster" for kind, _, _ in kube.patches)
