"""Nodes asked to leave together leave in one map version; a departure that does not fit waits, with the figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_node.schemas import ClusterMap, MountpathCapacity, NodeCapacity, NodeEntry, NodeStatus, RebalanceStatus
from storage_operator.model import bodies, clock, maps, revisions
from storage_operator.model.specs import ClusterSpec
from storage_operator.model.states import ConditionType, NodeState, Reason
from storage_operator.plan import budgets, capacity, lifecycle, phases
from storage_operator.plan.conditions import Condition
from storage_operator.plan.passes import Pass
from storage_operator.resources import pods

from tests.unit.operator.fakes import FixedClock

MiB = 1 << 20


def node(name: str, state: str = "online", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"cluster": "c1", "state": state, **spec},
        "status": {"state": "online"},
    }


def pod(name: str) -> dict[str, Any]:
    ready = [{"type": "Ready", "status": "True"}]
    return {"metadata": {"name": f"{name}-pod"}, "status": {"podIP": f"127.0.0.{name[-1]}", "conditions": ready}}


def report(name: str, stored: int, size: int | None, free: int | None) -> NodeStatus:
    space = None
    if size is not None and free is not None:
        mp = MountpathCapacity(path="/data/mp0", capacity_bytes=size, used_bytes=size - free, free_bytes=free)
        space = NodeCapacity(capacity_bytes=size, used_bytes=size - free, free_bytes=free, mountpaths=[mp])
    return NodeStatus(
        id=name, mountpaths=["/data/mp0"], objects=1, bytes=stored, map_version=3, rebalance=RebalanceStatus(),
        capacity=space,
    )  # fmt: skip


def a_pass(
    states: dict[str, str], figures: Mapping[str, tuple[int, int | None, int | None]], **cluster_spec: Any
) -> Pass:
    """Members by name -> spec.state (all online in the map), and their (stored, capacity, free) bytes."""
    nodes = [node(n, st) for n, st in states.items()]
    smap = ClusterMap(
        version=3, rebalance_id="g2", nodes={n: NodeEntry(id=n, url=f"http://{n}:8080", flags=[]) for n in states}
    )
    cluster = {
        "metadata": {"name": "c1", "namespace": "ns"},
        "spec": cluster_spec,
        "status": {"map": maps.to_status(smap)},
    }
    reports = {n: report(n, *figures[n]) for n in states}
    bodies_of_pods = {n: pod(n) for n in states}
    for body in bodies_of_pods.values():  # at the revision the spec asks for: no rolling upgrade is due
        body["metadata"]["annotations"] = {revisions.ANNOTATION: pods.pod_revision(cluster, ClusterSpec.of(cluster))}
    return Pass.observed(cluster, nodes, bodies_of_pods, pvcs={}, reports=reports, clock=FixedClock())


def test_nodes_asked_to_leave_together_are_one_batch_and_the_others_are_not() -> None:
    p = a_pass(
        {"node-1": "decommissioned", "node-2": "maintenance", "node-3": "shutdown", "node-4": "online"},
        {n: (MiB, 100 * MiB, 90 * MiB) for n in ("node-1", "node-2", "node-3", "node-4")},
    )
    assert [n["metadata"]["name"] for n in p.nodes if p.leaving(n)] == ["node-1", "node-2", "node-3"]
    assert [f["metadata"]["name"] for f in p.fellow_leavers("node-1")] == ["node-2", "node-3"]
    assert p.short_of_room() == {}, "3 MiB fit easily on the one node that stays"


def test_a_departure_that_would_overfill_the_nodes_that_stay_is_held_back_with_the_figures() -> None:
    # node-1 holds 60 MiB; each of the two others would take ~30 MiB but has only 25 MiB above the 10% headroom
    p = a_pass(
        {"node-1": "decommissioned", "node-2": "online", "node-3": "online"},
        {"node-1": (60 * MiB, 100 * MiB, 40 * MiB), "node-2": (60 * MiB, 100 * MiB, 35 * MiB),
         "node-3": (60 * MiB, 100 * MiB, 40 * MiB)},
    )  # fmt: skip
    held = p.short_of_room()
    assert set(held) == {"node-1"}
    msg = held["node-1"]
    assert (
        "60.0 MiB" in msg and "about 30.0 MiB each" in msg and "node-2 has 25.0 MiB free above the 10% headroom" in msg
    )
    assert "skipCapacityCheck" in msg


def test_the_headroom_is_the_clusters_and_an_opt_in_overrides_the_check() -> None:
    figures = {"node-1": (60 * MiB, 100 * MiB, 40 * MiB), "node-2": (0, 100 * MiB, 35 * MiB),
               "node-3": (0, 100 * MiB, 40 * MiB)}  # fmt: skip
    assert a_pass({"node-1": "maintenance", "node-2": "online", "node-3": "online"}, figures).short_of_room()
    lower = a_pass(
        {"node-1": "maintenance", "node-2": "online", "node-3": "online"}, figures, capacity={"headroomPercent": 0}
    )
    assert lower.short_of_room() == {}, "30 MiB each fits in 35 and 40 MiB free without headroom"
    p = a_pass({"node-1": "maintenance", "node-2": "online", "node-3": "online"}, figures)
    forced = [node("node-1", "maintenance", skipCapacityCheck=True), *p.nodes[1:]]
    p2 = Pass.observed(p.cluster, forced, dict(p.pods), pvcs={}, reports=dict(p.reports), clock=p.clock)
    assert p2.short_of_room() == {}


def test_a_batch_is_checked_as_a_whole() -> None:
    figures = {n: (30 * MiB, 100 * MiB, 50 * MiB) for n in ("node-1", "node-2", "node-3", "node-4")}
    alone = a_pass({"node-1": "maintenance", "node-2": "online", "node-3": "online", "node-4": "online"}, figures)
    assert alone.short_of_room() == {}, "30 MiB over three nodes: 10 MiB each"
    both = a_pass({"node-1": "maintenance", "node-2": "maintenance", "node-3": "online", "node-4": "online"}, figures)
    assert set(both.short_of_room()) == set(), "60 MiB over two nodes: 30 MiB each, 40 MiB room each"
    three = a_pass(
        {"node-1": "maintenance", "node-2": "maintenance", "node-3": "shutdown", "node-4": "online"}, figures
    )
    assert set(three.short_of_room()) == {"node-1", "node-2", "node-3"}, "90 MiB onto one node with 40 MiB room"


def test_unknown_figures_do_not_hold_a_departure_back() -> None:
    figures = {"node-1": (60 * MiB, None, None), "node-2": (0, 100 * MiB, 1 * MiB)}
    assert a_pass({"node-1": "maintenance", "node-2": "online"}, figures).short_of_room() == {}


def test_a_held_back_node_says_why_in_its_conditions() -> None:
    view = lifecycle.NodeView(
        desired=NodeState.DECOMMISSIONED, effective=NodeState.ONLINE, flags=(), pod_ready=True, rebalance_settled=True
    )
    s = phases.NodeSituation(
        view=view, step=lifecycle.next_step(view), is_turn=False, waiting_for="", pod_exists=True, pod_ready=True,
        pod_wanted=True, cluster_online=True, rebalance_id=None, percent=None, stalled_since=None, skip_note="",
        no_room="node-1 leaving would move 60.0 MiB",
    )  # fmt: skip
    found = {c.type: c for c in phases.node_conditions(s)}
    assert found[ConditionType.PROGRESSING] == Condition(
        ConditionType.PROGRESSING, False, Reason.INSUFFICIENT_CAPACITY, "node-1 leaving would move 60.0 MiB"
    )
    assert found[ConditionType.READY].reason is Reason.INSUFFICIENT_CAPACITY


def test_status_capacity_has_bytes_and_what_people_read() -> None:
    c = report("node-1", 0, 16 * MiB, 12 * MiB).capacity
    assert c is not None
    out = capacity.status_of(c)
    assert out["free"] == "12.0 MiB" and out["used"] == "25%" and out["capacityBytes"] == 16 * MiB
    assert out["mountpaths"] == [
        {"path": "/data/mp0", "capacityBytes": 16 * MiB, "usedBytes": 4 * MiB, "freeBytes": 12 * MiB}
    ]


def test_the_request_time_is_the_last_spec_change_not_a_status_write() -> None:
    body = node("node-1", "maintenance")
    body["metadata"]["managedFields"] = [
        {"manager": "kubectl", "operation": "Update", "time": "2026-11-26T10:00:01Z", "fieldsV1": {"f:spec": {}}},
        {"manager": "kopf", "operation": "Update", "subresource": "status", "time": "2026-11-26T10:05:00Z",
         "fieldsV1": {"f:status": {}}},
        {"manager": "helm", "operation": "Update", "time": "2026-11-26T10:00:03Z", "fieldsV1": {"f:spec": {}}},
    ]  # fmt: skip
    changed = bodies.spec_changed_at(body)
    assert changed is not None and clock.iso(changed) == "2026-11-26T10:00:03Z"
    assert bodies.spec_changed_at(node("node-2")) is None


def test_a_departure_held_back_for_room_leaves_the_disruption_budget_open_and_one_that_fits_closes_it() -> None:
    figures = {"node-1": (60 * MiB, 100 * MiB, 40 * MiB), "node-2": (60 * MiB, 100 * MiB, 35 * MiB),
               "node-3": (60 * MiB, 100 * MiB, 40 * MiB)}  # fmt: skip
    held = a_pass({"node-1": "maintenance", "node-2": "online", "node-3": "online"}, figures)
    assert held.short_of_room() and not budgets.changing(held), "it may wait for hours: evictions stay possible"
    fits = a_pass(
        {"node-1": "maintenance", "node-2": "online", "node-3": "online"}, figures, capacity={"headroomPercent": 0}
    )
    assert budgets.changing(fits)
