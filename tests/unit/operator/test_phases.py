"""What users read: phases, conditions and rebalance progress computed from a node's situation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage_node.schemas import NodeFlag, RebalanceStage, RebalanceStatus
from storage_operator.model.states import ClusterState, NodePhase, NodeState
from storage_operator.plan import lifecycle, phases, progress
from storage_operator.plan.conditions import Condition
from storage_operator.plan.lifecycle import Action, NodeView, Step


def situation(view: NodeView, **kw: object) -> phases.NodeSituation:
    base: dict[str, object] = {
        "view": view,
        "step": lifecycle.next_step(view),
        "is_turn": True,
        "waiting_for": "",
        "pod_exists": True,
        "pod_ready": True,
        "pod_wanted": True,
        "cluster_online": True,
        "rebalance_id": "g4",
        "percent": 40,
        "stalled_since": None,
        "skip_note": "",
    }
    base.update(kw)
    return phases.NodeSituation(**base)  # type: ignore[arg-type]


LEAVING = NodeView(NodeState.MAINTENANCE, NodeState.ONLINE, (NodeFlag.maintenance,), True, False)


def by_type(s: phases.NodeSituation) -> dict[str, Condition]:
    return {c.type.value: c for c in phases.node_conditions(s)}


def test_a_node_mid_rebalance_is_progressing_not_ready() -> None:
    s = situation(LEAVING)
    assert phases.node_phase(s) is NodePhase.REBALANCING
    c = by_type(s)
    assert not c["Ready"].status and c["Progressing"].status
    assert "g4" in c["Progressing"].message and "40%" in c["Progressing"].message


def test_a_queued_node_says_what_it_waits_for() -> None:
    s = situation(LEAVING, is_turn=False, waiting_for="waiting for node-1's shutdown to finish")
    c = by_type(s)
    assert phases.node_phase(s) is NodePhase.WAITING
    assert not c["Progressing"].status and c["Progressing"].reason.value == "WaitingForTurn"
    assert "node-1" in c["Progressing"].message


def test_ready_only_when_the_state_is_reached_and_the_pod_agrees() -> None:
    done = NodeView(NodeState.SHUTDOWN, NodeState.SHUTDOWN, (NodeFlag.maintenance,), False, True)
    s = situation(done, step=Step(Action.NOTHING), pod_wanted=False, pod_exists=True, pod_ready=False)
    assert not by_type(s)["Ready"].status, "the pod still has to go"
    s = situation(done, step=Step(Action.NOTHING), pod_wanted=False, pod_exists=False, pod_ready=False)
    assert by_type(s)["Ready"].status and phases.node_phase(s) is NodePhase.SHUT_DOWN


def test_a_stalled_rebalance_is_degraded() -> None:
    c = by_type(situation(LEAVING, stalled_since="2026-01-01T00:00:00Z"))
    assert c["Degraded"].status and c["Degraded"].reason.value == "RebalanceStalled"


def test_node_progress_reports_remaining_rate_and_eta() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    report = RebalanceStatus(
        id="g4",
        stage=RebalanceStage.traverse,
        objects_to_send=10,
        bytes_to_send=1000,
        objects_sent=4,
        bytes_sent=400,
        started_at=start,
    )
    p = progress.node_progress(report, cluster_percent=10, now=start + timedelta(seconds=4))
    assert p["percent"] == 40 and p["objectsRemaining"] == 6 and p["bytesRemaining"] == 600
    assert p["rateBytesPerSecond"] == 100 and p["eta"] == "6s"
    # what `kubectl ferry show rebalance` reads: sent out of to-send, and since when
    assert (p["bytesSent"], p["bytesToSend"], p["objectsSent"], p["objectsToSend"]) == (400, 1000, 4, 10)
    assert p["startedAt"] == "2026-01-01T00:00:00Z"
    reports = {"a": report, "b": report.model_copy(update={"stage": RebalanceStage.done})}
    assert not progress.completed(reports, "g4", {"a", "b"})
    assert progress.completed(reports, "g4", {"b"})


def test_cluster_conditions_follow_its_state() -> None:
    shutting = phases.cluster_conditions(
        state=ClusterState.SHUTDOWN,
        settled=True,
        pods_left=True,
        rebalancing=False,
        waiting="",
        stalled_since=None,
        rebalance_id=None,
    )
    assert not shutting[0].status and shutting[1].status
    down = phases.cluster_conditions(
        state=ClusterState.SHUTDOWN,
        settled=True,
        pods_left=False,
        rebalancing=False,
        waiting="",
        stalled_since=None,
        rebalance_id=None,
    )
    assert down[0].status and not down[1].status


ONLINE = NodeView(NodeState.ONLINE, NodeState.ONLINE, (), True, True)


def test_an_online_node_whose_pod_is_not_ready_or_that_does_not_answer_is_unavailable() -> None:
    assert phases.node_phase(situation(ONLINE, step=Step(Action.NOTHING))) is NodePhase.READY
    for how in ({"pod_ready": False}, {"pod_exists": False, "pod_ready": False}, {"answering": False}):
        s = situation(ONLINE, step=Step(Action.NOTHING), **how)
        assert s.unavailable and phases.node_phase(s) is NodePhase.UNAVAILABLE, how
        assert by_type(s)["Degraded"].status, how
    silent = by_type(situation(ONLINE, step=Step(Action.NOTHING), answering=False))["Degraded"]
    assert silent.reason.value == "NodeNotAnswering"
    # a node on its way somewhere (pod starting for a transition), or shut down on purpose, is not unavailable
    assert not situation(ONLINE, pod_ready=False, step=Step(Action.START_POD)).unavailable
    down = NodeView(NodeState.SHUTDOWN, NodeState.SHUTDOWN, (NodeFlag.maintenance,), False, True)
    assert not situation(down, step=Step(Action.NOTHING), pod_exists=False, pod_ready=False).unavailable
    assert not situation(ONLINE, step=Step(Action.NOTHING), pod_ready=False, upgrading="rolling").unavailable


def test_the_cluster_names_unavailable_nodes_and_what_it_costs() -> None:
    common = {
        "state": ClusterState.ONLINE,
        "settled": True,
        "pods_left": True,
        "rebalancing": False,
        "waiting": "",
        "stalled_since": None,
        "rebalance_id": "g3",
    }
    two = {c.type.value: c for c in phases.cluster_conditions(**common, unavailable=("node-2",), copies=2)}  # type: ignore[arg-type]
    assert two["Degraded"].status and two["Degraded"].reason.value == "RedundancyReduced"
    assert "node-2" in two["Degraded"].message and "2" in two["Degraded"].message
    one = {c.type.value: c for c in phases.cluster_conditions(**common, unavailable=("node-2",))}  # type: ignore[arg-type]
    assert one["Degraded"].reason.value == "NodeUnavailable" and "cannot be read" in one["Degraded"].message
    fine = {c.type.value: c for c in phases.cluster_conditions(**common)}  # type: ignore[arg-type]
    assert not fine["Degraded"].status
