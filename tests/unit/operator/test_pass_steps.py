"""A pass's steps return their outcomes: a rebalance is tracked to its end, a transition is carried out in turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, NodeStatus, RebalanceStage, RebalanceStatus
from storage_operator.clients import events
from storage_operator.model import clock, maps, revisions
from storage_operator.model.states import NodeState, RebalanceState, UpgradeStrategy
from storage_operator.plan import rollouts
from storage_operator.plan.passes import Pace, Pass
from storage_operator.steps import lifecycle, progress, publishing, redundancy
from storage_operator.steps import rollouts as rollout_steps

from tests.unit.operator.fakes import FakeFleet, FakeKube, FixedClock

NODES = ["node-1", "node-2", "node-3"]
STARTED = "2026-01-01T00:00:00Z"


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes events are posted by kopf's running operator; here they go nowhere."""
    monkeypatch.setattr(events, "info", lambda *a, **kw: None)
    monkeypatch.setattr(events, "warn", lambda *a, **kw: None)


def report(name: str, rid: str | None, stage: RebalanceStage, map_version: int = 2) -> NodeStatus:
    rb = RebalanceStatus(id=rid, stage=stage, objects_to_send=4, bytes_to_send=400, objects_sent=4, bytes_sent=400)
    return NodeStatus(id=name, mountpaths=[], objects=1, bytes=100, map_version=map_version, rebalance=rb)


def a_pass(
    desired: dict[str, str],
    flags: dict[str, list[NodeFlag]],
    status: dict[str, Any],
    reports: Any,
    at: FixedClock | None = None,
) -> Pass:
    nodes = [
        {"metadata": {"name": n, "namespace": "ns"}, "spec": {"cluster": "c1", "state": desired.get(n, "online")},
         "status": {"state": "online"}}
        for n in NODES
    ]  # fmt: skip
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "127.0.0.1"}
    pods = {n: {"metadata": {"name": f"{n}-pod", "uid": n}, "status": ready} for n in NODES}
    smap = ClusterMap(
        version=2,
        rebalance_id="g1",
        nodes={n: NodeEntry(id=n, url="http://127.0.0.1:8080", flags=flags.get(n, [])) for n in NODES},
    )
    meta = {"name": "c1", "namespace": "ns"}
    cluster = {"metadata": meta, "spec": {}, "status": {"map": maps.to_status(smap), **status}}
    return Pass.observed(cluster, nodes, pods, pvcs={}, reports=reports, clock=at or FixedClock())


RUNNING = {
    "rebalance": {"id": "g1", "state": "Running", "mapVersion": 2, "startedAt": STARTED, "lastProgressAt": STARTED},
    "transition": {"node": "node-1", "from": "online", "to": "maintenance", "operation": "start-maintenance",
                   "startedAt": STARTED},
}  # fmt: skip


def test_a_rebalance_every_member_finished_is_completed_and_the_transition_then_finishes() -> None:
    reports = {n: report(n, "g1", RebalanceStage.done) for n in NODES}
    p = a_pass({"node-1": "maintenance"}, {"node-1": [NodeFlag.maintenance]}, RUNNING, reports)
    kube, fleet = FakeKube(), FakeFleet(reports)
    tracked = asyncio.run(progress.track_rebalance(kube, fleet, p, p.pods_wanted()))
    assert tracked.status is not None and tracked.status.running is None and tracked.pace is Pace.BUSY
    last = tracked.status.last_rebalance
    assert last is not None and last.state is RebalanceState.COMPLETED and last.finished_at is not None
    assert last.totals is not None and last.totals.percent == 100
    q = p.after(tracked)
    finished = asyncio.run(lifecycle.advance(kube, fleet, q))
    assert finished.reached == {"node-1": NodeState.MAINTENANCE}
    assert finished.status is not None and finished.status.transition is None
    assert p.status.running is not None, "the observed pass is not changed by the steps"


def test_a_rebalance_with_a_member_still_moving_keeps_running_and_waits_for_its_end() -> None:
    reports = {n: report(n, "g1", RebalanceStage.done) for n in NODES}
    reports["node-2"] = report("node-2", "g1", RebalanceStage.traverse)
    p = a_pass({"node-1": "maintenance"}, {"node-1": [NodeFlag.maintenance]}, RUNNING, reports)
    kube, fleet = FakeKube(), FakeFleet(reports)
    tracked = asyncio.run(progress.track_rebalance(kube, fleet, p, p.pods_wanted()))
    assert tracked.status is not None and tracked.status.running is not None
    q = p.after(tracked)
    waiting = asyncio.run(lifecycle.advance(kube, fleet, q))
    assert waiting.reached == {} and waiting.pace is Pace.BUSY, "the rebalance announces its own end"


def test_a_change_of_flags_records_the_map_before_the_nodes_get_it_and_starts_a_rebalance() -> None:
    reports = {n: report(n, None, RebalanceStage.idle) for n in NODES}
    p = a_pass({"node-2": "maintenance"}, {}, {}, reports)
    kube, fleet = FakeKube(), FakeFleet(reports)
    outcome = asyncio.run(lifecycle.advance(kube, fleet, p))
    assert outcome.status is not None and outcome.status.map is not None
    assert outcome.status.map.version == 3 and outcome.status.map.nodes["node-2"].flags == [NodeFlag.maintenance]
    running = outcome.status.running
    assert running is not None and running.id == "g2" and outcome.status.transition is not None
    first = kube.calls[0]
    assert first.verb == "patch_status" and first.body["map"]["version"] == 3 and fleet.installed == [3]
    assert outcome.api_status is not None and outcome.api_status["rebalance"]["id"] == "g2"


def a_rolling_pass(upgrade: dict[str, Any], status: dict[str, Any], at: FixedClock | None = None) -> Pass:
    """Three online nodes whose pods are at an old revision; the spec asks for another one."""
    reports = {n: report(n, None, RebalanceStage.idle) for n in NODES}
    p = a_pass({}, {}, status, reports, at)
    for pod in p.pods.values():
        pod["metadata"]["annotations"] = {revisions.ANNOTATION: "old"}
    p.cluster["spec"] = {"upgrade": upgrade}
    return p


def test_a_new_revision_starts_one_node_and_drains_it_first() -> None:
    p = a_rolling_pass({}, {})
    kube, fleet = FakeKube(), FakeFleet(dict(p.reports))
    outcome = asyncio.run(rollout_steps.roll(kube, fleet, p))
    st = outcome.status
    assert st is not None and st.rollout is not None and st.rollout.node == "node-1"
    assert st.rollout.strategy is UpgradeStrategy.DRAIN
    assert st.map is not None and st.map.nodes["node-1"].flags == [NodeFlag.maintenance]
    assert st.map.nodes["node-2"].flags == [] and st.running is not None, "its data moves off by a rebalance"
    assert kube.calls[0].body["rollout"]["node"] == "node-1", "the node in progress is recorded first"
    assert "node-1-pod" not in kube.deleted("Pod"), "its pod stays until its data is off"


def test_a_restart_marks_the_first_node_then_deletes_its_pod_and_nothing_else() -> None:
    p = a_rolling_pass({"strategy": "restart"}, {})
    kube, fleet = FakeKube(), FakeFleet(dict(p.reports))
    outcome = asyncio.run(rollout_steps.roll(kube, fleet, p))
    assert outcome.status is not None and outcome.status.rollout is not None
    assert outcome.status.rollout.node == "node-1"
    assert kube.deleted("Pod") == [], "clients picking nodes by status get a moment first"

    at = FixedClock()
    earlier = clock.iso(at.ago(rollouts.RESTART_GRACE_S + 1))
    record = {"node": "node-1", "strategy": "restart", "startedAt": earlier}
    p = a_rolling_pass({"strategy": "restart"}, {"rollout": record}, at)
    kube, fleet = FakeKube(), FakeFleet(dict(p.reports))
    outcome = asyncio.run(rollout_steps.roll(kube, fleet, p))
    assert kube.deleted("Pod") == ["node-1-pod"]
    assert (outcome.status is None or outcome.status.map == p.status.map) and fleet.installed == [], "no data moves"


def test_a_transition_in_progress_holds_the_rollout_back() -> None:
    p = a_rolling_pass({"strategy": "restart"}, {"transition": RUNNING["transition"]})
    kube, fleet = FakeKube(), FakeFleet(dict(p.reports))
    outcome = asyncio.run(rollout_steps.roll(kube, fleet, p))
    assert outcome.status is None and kube.calls == []
    assert "node-1's start-maintenance" in p.rollout_decision().why


def test_a_membership_change_waits_while_a_node_is_rolled() -> None:
    rollout = {"node": "node-2", "strategy": "drain", "startedAt": STARTED}
    p = a_rolling_pass({}, {"rollout": rollout})
    assert p.waiting_for() == "waiting for the rolling upgrade of node-2 to finish"
    assert p.rollout_decision().node == "node-2", "the node in progress goes on; no other is started"


def test_a_change_of_copies_publishes_a_map_with_k_and_a_rebalance_and_nothing_when_unchanged() -> None:
    reports = {n: report(n, None, RebalanceStage.idle) for n in NODES}
    p = a_pass({}, {}, {}, reports)
    kube, fleet = FakeKube(), FakeFleet(reports)
    assert asyncio.run(publishing.recopy(kube, fleet, p)).status is None, "K = 1 in the spec and in the map"
    p = Pass.observed(
        {**p.cluster, "spec": {"redundancy": {"copies": 2}}},
        list(p.nodes),
        dict(p.pods),
        pvcs={},
        reports=reports,
        clock=p.clock,
    )
    outcome = asyncio.run(publishing.recopy(kube, fleet, p))
    assert outcome.status is not None and outcome.status.map is not None
    assert outcome.status.map.copies == 2 and outcome.status.map.version == 3
    running = outcome.status.running
    assert running is not None and running.id == "g2"
    assert kube.calls[0].verb == "patch_status" and kube.calls[0].body["map"]["copies"] == 2
    assert fleet.installed == [3]


def a_two_copy_pass(lost_since_s: float | None, flags: list[NodeFlag], answering: bool, grace: int = 600) -> Pass:
    """Three nodes, K = 2; node-2 unavailable since `lost_since_s` seconds (None: it never was)."""
    at = FixedClock()
    reports = {n: report(n, None, RebalanceStage.idle) for n in NODES if n != "node-2" or answering}
    p = a_pass({}, {"node-2": flags}, {}, reports, at=at)
    assert p.status.map is not None
    smap = maps.with_copies(p.status.map, 2)
    since = clock.iso(at.ago(lost_since_s)) if lost_since_s is not None else None
    nodes = [
        {
            **n,
            "status": {
                **n["status"],
                **({"unavailableSince": since} if n["metadata"]["name"] == "node-2" and since else {}),
            },
        }
        for n in p.nodes
    ]
    cluster = {
        **p.cluster,
        "spec": {"redundancy": {"copies": 2, "lossGraceSeconds": grace}},
        "status": {"map": maps.to_status(smap)},
    }
    return Pass.observed(cluster, nodes, dict(p.pods), pvcs={}, reports=reports, clock=at)


def test_a_node_unavailable_past_the_loss_grace_is_given_up_and_taken_back_when_it_answers() -> None:
    kube, fleet = FakeKube(), FakeFleet({})
    for early in (
        a_two_copy_pass(599, [], False),
        a_two_copy_pass(None, [], True),
        a_two_copy_pass(9999, [], False, 0),
    ):
        assert asyncio.run(redundancy.watch_losses(kube, fleet, early)).status is None, "within the grace, or none"
    out = asyncio.run(redundancy.watch_losses(kube, fleet, a_two_copy_pass(601, [], False)))
    assert out.status is not None and out.status.map is not None
    assert out.status.map.nodes["node-2"].flags == [NodeFlag.lost], "no placement: its copies go to the others"
    assert out.status.running is not None and out.status.running.id == "g3"  # g2 made the copies
    # still silent: nothing more; answering again: the flag goes with a rebalance that gives it its share back
    assert (
        asyncio.run(redundancy.watch_losses(kube, fleet, a_two_copy_pass(700, [NodeFlag.lost], False))).status is None
    )
    back = asyncio.run(redundancy.watch_losses(kube, fleet, a_two_copy_pass(None, [NodeFlag.lost], True)))
    assert back.status is not None and back.status.map is not None and back.status.map.nodes["node-2"].flags == []
    assert back.status.running is not None
    # the lifecycle does not see the flag: the node stays where its spec wants it, no transition starts
    view = a_two_copy_pass(700, [NodeFlag.lost], False).view(a_two_copy_pass(700, [NodeFlag.lost], False).nodes[1])
    assert view.flags == ()


def test_a_member_back_on_an_empty_volume_gets_one_rebalance_that_refills_it_and_maps_are_dated() -> None:
    kube, fleet = FakeKube(), FakeFleet({})
    reports = {n: report(n, "g1", RebalanceStage.done) for n in NODES}
    assert asyncio.run(redundancy.refill(kube, fleet, a_pass({}, {}, {}, reports))).status is None, "nobody empty"
    reports["node-2"] = reports["node-2"].model_copy(update={"refill_after": 1, "objects": 0})
    out = asyncio.run(redundancy.refill(kube, fleet, a_pass({}, {}, {}, reports)))
    assert out.status is not None and out.status.map is not None
    assert out.status.running is not None and out.status.running.id == "g2", "a rebalance after the one it found"
    at = FixedClock().now().timestamp()  # entries dated when first published: a node started later knows
    assert {e.since for e in out.status.map.nodes.values()} == {at}
    assert maps.from_status(maps.to_status(out.status.map)) == out.status.map
    # once a later rebalance exists (this one, or a transition's), nothing more
    later = a_pass({}, {}, {}, {**reports, "node-2": reports["node-2"].model_copy(update={"refill_after": 0})})
    assert asyncio.run(redundancy.refill(kube, fleet, later)).status is None
    assert asyncio.run(redundancy.refill(kube, fleet, a_pass({}, {}, RUNNING, reports))).status is None, "transition"


def test_a_node_keeps_the_date_it_entered_the_map_across_new_addresses_and_flags() -> None:
    first = maps.with_nodes(None, [NodeEntry(id="node-1", url="http://127.0.0.1:8080", since=5.0)])
    moved = maps.with_addresses(first, {"node-1": "http://127.0.0.2:8080"})
    entry = NodeEntry(id="node-1", url="http://127.0.0.2:8080", flags=[NodeFlag.maintenance])
    flagged = maps.with_nodes(moved, [entry])
    assert moved.nodes["node-1"].since == flagged.nodes["node-1"].since == 5.0
