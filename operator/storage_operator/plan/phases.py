"""What users read: a StorageNode's phase and conditions, and the StorageCluster's summary (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from storage_operator.model.specs import ClusterSpec, NodeSpec
from storage_operator.model.states import ClusterPhase, ClusterState, ConditionType, NodePhase, NodeState, Reason
from storage_operator.plan import lifecycle, reachable
from storage_operator.plan.conditions import Condition
from storage_operator.plan.lifecycle import Action

PHASE_OF_STEP: dict[Action, NodePhase] = {
    Action.PUBLISH: NodePhase.PUBLISHING,
    Action.AWAIT_REBALANCE: NodePhase.REBALANCING,
    Action.CLEANUP: NodePhase.CLEANING_UP,
    Action.REMOVE_FROM_MAP: NodePhase.CLEANING_UP,
}


@dataclass(frozen=True)
class NodeSituation:
    """One node as the reconciler sees it at the end of a pass."""

    view: lifecycle.NodeView
    step: lifecycle.Step
    is_turn: bool  # its transition is the one being carried out
    waiting_for: str  # what it waits for when it is not its turn ("" otherwise)
    pod_exists: bool
    pod_ready: bool
    pod_wanted: bool
    cluster_online: bool
    rebalance_id: str | None
    percent: int | None
    stalled_since: str | None
    skip_note: str  # why data is not migrated for this node ("" when it is)
    no_room: str = ""  # why its departure waits although it could be its turn (no room), "" otherwise
    upgrading: str = ""  # what the rolling upgrade does with this node ("" when it is not the one rolled)
    stuck: bool = False  # its new pod did not become Ready in time: the rollout stopped here
    answering: bool = True  # its node process answered this pass
    replacing: str = ""  # the stage of its volume's replacement under way ("" when none is)

    @property
    def unavailable(self) -> bool:
        """It should serve (online or in maintenance, nothing under way) and does not: not Ready, or silent."""
        done = self.step.action is Action.NOTHING
        serving = self.view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE) and self.view.flags is not None
        return (
            self.cluster_online
            and done
            and serving
            and not self.upgrading
            and not self.replacing
            and not (self.pod_exists and self.pod_ready and self.answering)
        )


def node_phase(s: NodeSituation) -> NodePhase:
    """The phase column of `kubectl get storagenodes`."""
    if not s.cluster_online:
        return NodePhase.CLUSTER_DOWN
    if s.upgrading:
        return NodePhase.UPGRADING
    if s.replacing:
        return NodePhase.REPLACING
    if s.unavailable:
        return NodePhase.UNAVAILABLE
    if s.step.action is Action.NOTHING:
        if s.view.desired is NodeState.SHUTDOWN:
            return NodePhase.STOPPING if s.pod_exists else NodePhase.SHUT_DOWN
        if s.view.desired is NodeState.DECOMMISSIONED:
            return NodePhase.DECOMMISSIONED
        return NodePhase.READY if s.pod_ready else NodePhase.PENDING
    if not s.is_turn:
        return NodePhase.WAITING
    if s.step.action is Action.START_POD:
        if s.view.effective is None:
            return NodePhase.JOINING
        return NodePhase.RESTARTING if s.view.effective is NodeState.SHUTDOWN else NodePhase.PENDING
    if s.step.action is Action.FINISH:
        return NodePhase.STOPPING
    return PHASE_OF_STEP.get(s.step.action, NodePhase.PENDING)


def _describe(s: NodeSituation) -> str:
    op = lifecycle.operation(s.view.effective, s.view.desired)
    step = s.step.action.value
    if s.step.action is Action.AWAIT_REBALANCE and s.rebalance_id:
        pct = "" if s.percent is None else f" at {s.percent}%"
        return f"{op}: global rebalance {s.rebalance_id} running{pct}"
    return f"{op}: {step}"


def node_conditions(s: NodeSituation) -> list[Condition]:
    """Ready, Progressing, Degraded (and RebalanceSkipped when data is not migrated) for one node."""
    if s.cluster_online and s.upgrading:
        return _upgrading_conditions(s)
    done = s.step.action is Action.NOTHING
    pod_settled = s.pod_ready if s.pod_wanted else not s.pod_exists
    if not s.cluster_online:
        ready = Condition(ConditionType.READY, False, Reason.CLUSTER_SHUT_DOWN, "the storage cluster is not online")
    elif done and pod_settled:
        ready = Condition(ConditionType.READY, True, Reason.STATE_REACHED, f"node is {s.view.desired.value}")
    elif done:
        reason = Reason.POD_NOT_READY if s.pod_wanted else Reason.TRANSITION_IN_PROGRESS
        msg = "waiting for the node pod to be ready" if s.pod_wanted else "waiting for the node pod to go away"
        ready = Condition(ConditionType.READY, False, reason, msg)
    elif s.is_turn:
        ready = Condition(ConditionType.READY, False, Reason.TRANSITION_IN_PROGRESS, _describe(s))
    elif s.no_room:
        ready = Condition(ConditionType.READY, False, Reason.INSUFFICIENT_CAPACITY, s.no_room)
    else:
        ready = Condition(ConditionType.READY, False, Reason.WAITING_FOR_TURN, s.waiting_for)

    if done or not s.cluster_online:
        progressing = Condition(ConditionType.PROGRESSING, False, Reason.IDLE, "no transition in progress")
    elif s.is_turn:
        reason = Reason.REBALANCING if s.step.action is Action.AWAIT_REBALANCE else Reason.TRANSITION_IN_PROGRESS
        progressing = Condition(ConditionType.PROGRESSING, True, reason, _describe(s))
    elif s.no_room:
        progressing = Condition(ConditionType.PROGRESSING, False, Reason.INSUFFICIENT_CAPACITY, s.no_room)
    else:
        progressing = Condition(ConditionType.PROGRESSING, False, Reason.WAITING_FOR_TURN, s.waiting_for)

    if s.is_turn and s.stalled_since:
        degraded = Condition(
            ConditionType.DEGRADED,
            True,
            Reason.REBALANCE_STALLED,
            f"global rebalance {s.rebalance_id} has made no progress since {s.stalled_since}",
        )
    elif s.cluster_online and s.pod_wanted and s.pod_exists and not s.pod_ready and done:
        degraded = Condition(ConditionType.DEGRADED, True, Reason.POD_NOT_READY, "the node pod is not ready")
    elif s.unavailable:
        degraded = Condition(
            ConditionType.DEGRADED,
            True,
            Reason.NODE_NOT_ANSWERING,
            "the node pod is Ready but the node does not answer",
        )
    else:
        degraded = Condition(ConditionType.DEGRADED, False, Reason.HEALTHY, "")
    out = [ready, progressing, degraded]
    if s.skip_note:
        out.append(Condition(ConditionType.REBALANCE_SKIPPED, True, Reason.SKIPPED_BY_REQUEST, s.skip_note))
    return out


def _upgrading_conditions(s: NodeSituation) -> list[Condition]:
    """The node a rolling upgrade is re-creating: not Ready until its new pod is; Degraded when that is stuck."""
    ready = Condition(ConditionType.READY, False, Reason.ROLLING_UPDATE, s.upgrading)
    if s.stuck:
        progressing = Condition(ConditionType.PROGRESSING, False, Reason.ROLLOUT_STUCK, s.upgrading)
        degraded = Condition(ConditionType.DEGRADED, True, Reason.ROLLOUT_STUCK, s.upgrading)
    else:
        progressing = Condition(ConditionType.PROGRESSING, True, Reason.ROLLING_UPDATE, s.upgrading)
        degraded = Condition(ConditionType.DEGRADED, False, Reason.HEALTHY, "")
    return [ready, progressing, degraded]


def node_counts(effective: list[NodeState | None]) -> dict[str, int]:
    """How many nodes are in each effective state (for the cluster's printer columns)."""
    counts = Counter(e.value for e in effective if e is not None)
    return {state.value: counts.get(state.value, 0) for state in NodeState}


def cluster_phase(
    *, state: ClusterState, formed: bool, transition: bool, rebalancing: bool, pods_left: bool
) -> ClusterPhase:
    """The phase column of `kubectl get storageclusters`."""
    if state is ClusterState.DECOMMISSIONED:
        return ClusterPhase.DECOMMISSIONED
    if state is ClusterState.SHUTDOWN:
        return ClusterPhase.SHUTTING_DOWN if pods_left else ClusterPhase.SHUT_DOWN
    if not formed:
        return ClusterPhase.FORMING
    if rebalancing:
        return ClusterPhase.REBALANCING
    return ClusterPhase.TRANSITIONING if transition else ClusterPhase.READY


def cluster_state(state: ClusterState, *, pods_left: bool, previous: str | None) -> str:
    """The state the cluster has reached: a shutdown is reached once the last node pod is gone."""
    if state is ClusterState.SHUTDOWN and pods_left:
        return previous or ClusterState.ONLINE.value
    return state.value


def skip_note(node_spec: NodeSpec, cluster_spec: ClusterSpec) -> str:
    """Why state changes of a node do not migrate its data ("" when they do)."""
    if node_spec.skip_rebalance:
        return "spec.skipRebalance is set: state changes of this node do not migrate its data"
    if not cluster_spec.rebalance.enabled:
        return "rebalance is disabled for the cluster: state changes do not migrate data"
    return ""


def pending_since(step: lifecycle.Step, *, is_turn: bool, old: str | None, now: str) -> str | None:
    """Since when a node's requested change waits for its turn (kept while it is carried out, cleared when done)."""
    if step.action is Action.NOTHING:
        return None
    if not is_turn and not old:
        return now
    return old


def cluster_conditions(
    *,
    state: ClusterState,
    settled: bool,
    pods_left: bool,
    rebalancing: bool,
    waiting: str,
    stalled_since: str | None,
    rebalance_id: str | None,
    unavailable: tuple[str, ...] = (),
    copies: int = 1,
    estimate: reachable.Estimate | None = None,
) -> list[Condition]:
    """The StorageCluster's Ready (its spec.state reached), Progressing and Degraded.

    Degraded names the nodes that should serve and do not (`unavailable`): with K copies their objects have
    fewer copies (RedundancyReduced), with one copy those objects are unreadable (NodeUnavailable); the
    `estimate` says about how many objects that is. Else Degraded says when fewer nodes are eligible for
    placement than K asks (InsufficientNodes: objects get one copy a node).
    """
    if state is ClusterState.ONLINE:
        reached = settled
        why = waiting or ("global rebalance running" if rebalancing else "nodes are joining")
    else:
        reached = not pods_left
        why = f"waiting for the node pods to stop ({state.value})"
    ready = Condition(
        ConditionType.READY,
        reached,
        Reason.STATE_REACHED if reached else Reason.TRANSITION_IN_PROGRESS,
        f"cluster is {state.value}" if reached else why,
    )
    if rebalancing:
        progressing = Condition(
            ConditionType.PROGRESSING, True, Reason.REBALANCING, f"global rebalance {rebalance_id} running"
        )
    elif waiting or not reached:
        progressing = Condition(ConditionType.PROGRESSING, True, Reason.TRANSITION_IN_PROGRESS, waiting or why)
    else:
        progressing = Condition(ConditionType.PROGRESSING, False, Reason.IDLE, "")
    if stalled_since:
        degraded = Condition(
            ConditionType.DEGRADED,
            True,
            Reason.REBALANCE_STALLED,
            f"global rebalance {rebalance_id} has made no progress since {stalled_since}",
        )
    elif unavailable and copies > 1:
        degraded = Condition(
            ConditionType.DEGRADED, True, Reason.REDUNDANCY_REDUCED, _reduced(unavailable, copies, estimate)
        )
    elif unavailable:
        who = ", ".join(unavailable)
        cost = "its objects cannot be read"
        if estimate is not None:
            cost = f"about {estimate.total} objects cannot be read until it is back"
        degraded = Condition(ConditionType.DEGRADED, True, Reason.NODE_UNAVAILABLE, f"{who} unavailable: {cost}")
    elif estimate is not None and estimate.short and copies > 1:
        degraded = Condition(ConditionType.DEGRADED, True, Reason.INSUFFICIENT_NODES, _short(estimate))
    else:
        degraded = Condition(ConditionType.DEGRADED, False, Reason.HEALTHY, "")
    return [ready, progressing, degraded]


def _reduced(unavailable: tuple[str, ...], copies: int, estimate: reachable.Estimate | None) -> str:
    """What the nodes that should serve and do not cost, with K copies (RedundancyReduced)."""
    who = ", ".join(unavailable)
    if estimate is None:
        return f"{who} unavailable: the objects it holds have fewer than {copies} reachable copies (others serve them)"
    if estimate.total == 0 and estimate.short:
        return f"{who} unavailable: {_short(estimate)}"
    if estimate.total == 0:  # given up and rebuilt around, or it held nothing
        return f"{who} unavailable: every object has its {copies} copies on the other nodes"
    if len(estimate.down()) > 1:
        return (
            f"{who} unavailable: about {estimate.total} objects have fewer than {copies} reachable copies"
            " (at most: an object on several of them is counted for each)"
        )
    return f"{who} unavailable: about {estimate.total} objects have {max(estimate.held - 1, 0)} of {copies} copies"


def _short(estimate: reachable.Estimate) -> str:
    """K larger than the nodes eligible for placement (InsufficientNodes)."""
    n = estimate.held
    nodes = "no node is" if n == 0 else "only 1 node is" if n == 1 else f"only {n} nodes are"
    each = "" if n == 0 else f": each object gets {n} {'copy' if n == 1 else 'copies'}"
    return f"spec.redundancy.copies is {estimate.copies} but {nodes} eligible for placement{each}"


def with_rollout(found: list[Condition], *, message: str, paused: bool, stuck: bool) -> list[Condition]:
    """The cluster's conditions while a rolling upgrade is under way (`message`; "" when none is).

    Ready is False until every online node runs the spec's revision; Progressing says what the rollout does
    (unless a membership change it waits for says so already), False with RolloutPaused or RolloutStuck when
    it does nothing; Degraded is True with RolloutStuck when a new pod did not become Ready in time.
    """
    if not message:
        return found
    out = []
    for c in found:
        if c.type is ConditionType.READY and c.status:
            c = Condition(ConditionType.READY, False, Reason.ROLLING_UPDATE, message)
        elif c.type is ConditionType.PROGRESSING:
            if stuck:
                c = Condition(ConditionType.PROGRESSING, False, Reason.ROLLOUT_STUCK, message)
            elif paused:
                c = Condition(ConditionType.PROGRESSING, False, Reason.ROLLOUT_PAUSED, message)
            elif c.reason is not Reason.TRANSITION_IN_PROGRESS:
                c = Condition(ConditionType.PROGRESSING, True, Reason.ROLLING_UPDATE, message)
        elif c.type is ConditionType.DEGRADED and stuck:
            c = Condition(ConditionType.DEGRADED, True, Reason.ROLLOUT_STUCK, message)
        out.append(c)
    return out
