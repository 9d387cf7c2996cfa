"""The node pods' disruption budget: one voluntary disruption while the cluster is quiet, none while it changes."""

from __future__ import annotations

import asyncio
from typing import Any

from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag
from storage_operator.model import maps
from storage_operator.model.bodies import Body
from storage_operator.plan import budgets
from storage_operator.plan.passes import Pass
from storage_operator.resources import disruption_budgets
from storage_operator.steps import budgets as budget_steps

from tests.unit.operator.fakes import FakeKube, FixedClock

STARTED = "2026-01-01T00:00:00Z"
RUNNING = {"id": "g1", "state": "Running", "mapVersion": 2, "startedAt": STARTED, "lastProgressAt": STARTED}
MAINT = [NodeFlag.maintenance]


def a_pass(
    states: dict[str, tuple[str, str]], status: dict[str, Any] | None = None, budget: Body | None = None
) -> Pass:
    """A pass over nodes given as name -> (spec.state, status.state); members carry their state's map flags."""
    nodes = [
        {"metadata": {"name": n, "namespace": "ns"}, "spec": {"cluster": "c1", "state": want}, "status": {"state": st}}
        for n, (want, st) in states.items()
    ]
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "127.0.0.1"}
    pods = {n: {"metadata": {"name": f"{n}-pod", "uid": n}, "status": ready} for n, (_, st) in states.items()}
    entries = {
        n: NodeEntry(id=n, url="http://127.0.0.1:8080", flags=MAINT if st != "online" else [])
        for n, (_, st) in states.items()
    }
    smap = ClusterMap(version=2, rebalance_id="g1", nodes=entries)
    meta = {"name": "c1", "namespace": "ns", "uid": "u-c"}
    held = {"map": maps.to_status(smap), **(status or {})}
    body = {"kind": "StorageCluster", "metadata": meta, "spec": {}, "status": held}
    return Pass.observed(body, nodes, pods, pvcs={}, reports={}, budget=budget, clock=FixedClock())


def floor(p: Pass) -> int:
    return budgets.min_available(p, p.pods_wanted())


QUIET = {"n1": ("online", "online"), "n2": ("online", "online"), "n3": ("online", "online")}


def test_a_quiet_cluster_lets_one_node_pod_go() -> None:
    assert floor(a_pass(QUIET)) == 2


def test_no_node_pod_may_go_while_a_rebalance_runs_or_a_change_is_in_progress() -> None:
    assert floor(a_pass(QUIET, {"rebalance": RUNNING})) == 3
    transition = {"node": "n2", "to": "maintenance", "operation": "start-maintenance", "startedAt": STARTED}
    assert floor(a_pass(QUIET, {"transition": transition})) == 3


def test_a_change_only_asked_for_already_closes_the_budget_before_its_rebalance_starts() -> None:
    asked = {**QUIET, "n2": ("maintenance", "online")}
    assert floor(a_pass(asked)) == 3


def test_only_the_pods_meant_to_run_count_and_a_lone_node_may_go() -> None:
    with_one_down = {**QUIET, "n3": ("shutdown", "shutdown")}
    assert floor(a_pass(with_one_down)) == 1
    assert floor(a_pass({"n1": ("online", "online")})) == 0


def keep(p: Pass) -> list[Body]:
    kube = FakeKube()
    assert asyncio.run(budget_steps.keep(kube, p, p.pods_wanted())) is None
    return kube.applied


def test_the_budget_is_written_when_missing_or_different_and_left_alone_when_it_holds() -> None:
    created = keep(a_pass(QUIET))
    assert [m["spec"]["minAvailable"] for m in created] == [2]
    held = {**created[0], "spec": {**created[0]["spec"], "unhealthyPodEvictionPolicy": "IfHealthyBudget"}}
    assert keep(a_pass(QUIET, budget=held)) == [], "fields the API server adds do not cause a write"
    tightened = keep(a_pass(QUIET, {"rebalance": RUNNING}, budget=held))
    assert [m["spec"]["minAvailable"] for m in tightened] == [3]
    assert tightened[0]["metadata"]["name"] == disruption_budgets.budget_name("c1")


def test_a_refused_budget_is_reported_back_instead_of_failing_the_pass() -> None:
    kube = FakeKube(refusal='poddisruptionbudgets.policy "c1-nodes" is forbidden')
    refused = asyncio.run(budget_steps.keep(kube, a_pass(QUIET), a_pass(QUIET).pods_wanted()))
    assert refused is not None and "forbidden" in refused
