"""New nodes that are ready join together, in one map version; members and other kinds of change do not."""

from __future__ import annotations

from typing import Any

from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, NodeStatus, RebalanceStatus
from storage_operator.model import maps
from storage_operator.plan import lifecycle
from storage_operator.plan.passes import Pass

MEMBERS = ["node-1", "node-2"]


def node(name: str, state: str = "online", effective: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"cluster": "c1", "state": state},
        "status": {"state": effective} if effective else {},
    }


def pod(name: str, ready: bool) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    ip = f"127.0.0.{len(name)}"
    return {"metadata": {"name": f"{name}-0"}, "status": {"podIP": ip, "conditions": conditions}}


def a_pass(new: dict[str, tuple[str, bool]]) -> Pass:
    """Two members, and new nodes by name -> (spec.state, pod ready)."""
    nodes = [node(n, effective="online") for n in MEMBERS] + [node(n, st) for n, (st, _) in new.items()]
    pods = {n: pod(n, True) for n in MEMBERS} | {n: pod(n, ready) for n, (_, ready) in new.items()}
    smap = ClusterMap(
        version=3, rebalance_id="g2", nodes={n: NodeEntry(id=n, url=f"http://{n}:8080", flags=[]) for n in MEMBERS}
    )
    cluster = {"metadata": {"name": "c1", "namespace": "ns"}, "spec": {}, "status": {"map": maps.to_status(smap)}}
    reports = {
        n: NodeStatus(id=n, mountpaths=[], objects=0, bytes=0, map_version=3, rebalance=RebalanceStatus())
        for n, body in pods.items()
        if body["status"]["conditions"][0]["status"] == "True"
    }
    return Pass.observed(cluster, nodes, pods, pvcs={}, reports=reports)


def head_step(p: Pass, head: str) -> lifecycle.Step:
    return lifecycle.next_step(p.view(next(n for n in p.nodes if n["metadata"]["name"] == head)))


def test_ready_new_nodes_join_with_the_first_and_members_are_left_alone() -> None:
    p = a_pass({"node-3": ("online", True), "node-4": ("online", True), "node-5": ("online", True)})
    step = head_step(p, "node-3")
    assert step.action is lifecycle.Action.PUBLISH and step.rebalance
    fellows, starting = p.fellow_joiners("node-3", step)
    assert [e.id for e in fellows] == ["node-4", "node-5"] and not starting
    assert all(e.flags == [] and e.url.startswith("http://127.") for e in fellows)


def test_a_new_node_still_starting_is_waited_for_and_not_added() -> None:
    p = a_pass({"node-3": ("online", True), "node-4": ("online", False)})
    fellows, starting = p.fellow_joiners("node-3", head_step(p, "node-3"))
    assert fellows == [] and starting


def test_a_standby_does_not_join_with_online_nodes_but_with_other_standbys() -> None:
    p = a_pass({"node-3": ("online", True), "node-4": ("maintenance", True), "node-5": ("maintenance", True)})
    fellows, _ = p.fellow_joiners("node-3", head_step(p, "node-3"))
    assert fellows == []
    step = head_step(p, "node-4")
    assert step.flags == (NodeFlag.maintenance,) and not step.rebalance
    fellows, _ = p.fellow_joiners("node-4", step)
    assert [(e.id, e.flags) for e in fellows] == [("node-5", [NodeFlag.maintenance])]


def test_a_new_node_created_shut_down_neither_joins_nor_is_waited_for() -> None:
    p = a_pass({"node-3": ("online", True), "node-4": ("shutdown", False)})
    fellows, starting = p.fellow_joiners("node-3", head_step(p, "node-3"))
    assert fellows == [] and not starting
