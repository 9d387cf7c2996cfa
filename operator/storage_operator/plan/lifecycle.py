"""Lifecycle planning: from a node's (effective, desired) state and what is observed, the next step (pure).

The allowed transitions are written down once, here (``TRANSITIONS``); the API server's CEL rules forbid the
only other ones (leaving ``decommissioned``). Every transition is the same short flow, as in AIStore:

    [restart pod] -> publish map (flags, new rebalance id) -> [global rebalance runs its full way]
        -> finalize (shutdown: remove pod; decommissioned: cleanup -> remove from map -> release volume)

Invariants:
- a node leaves (pod removed, cleanup, removal from the map) only after the global rebalance completed;
- the pod of a node whose data may still move is never removed;
- each step is idempotent and derived from observed state only, so a restarted operator resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage_node.schemas import NodeFlag

from storage_operator.model.states import NodeState

#: (effective, desired) -> operation name, as AIStore's lifecycle table calls it. ``None`` = not yet a member.
TRANSITIONS: dict[tuple[NodeState | None, NodeState], str] = {
    (None, NodeState.ONLINE): "join",
    (None, NodeState.MAINTENANCE): "join as standby",
    (None, NodeState.SHUTDOWN): "register shut down",
    (None, NodeState.DECOMMISSIONED): "delete before joining",
    (NodeState.ONLINE, NodeState.MAINTENANCE): "start-maintenance",
    (NodeState.ONLINE, NodeState.SHUTDOWN): "shutdown",
    (NodeState.ONLINE, NodeState.DECOMMISSIONED): "decommission",
    (NodeState.MAINTENANCE, NodeState.ONLINE): "stop-maintenance",
    (NodeState.MAINTENANCE, NodeState.SHUTDOWN): "shutdown",
    (NodeState.MAINTENANCE, NodeState.DECOMMISSIONED): "decommission",
    (NodeState.SHUTDOWN, NodeState.MAINTENANCE): "restart",
    (NodeState.SHUTDOWN, NodeState.ONLINE): "restart + stop-maintenance",
    (NodeState.SHUTDOWN, NodeState.DECOMMISSIONED): "decommission",
}

#: The map flags a node carries in each desired state (``None``: it is not in the map at all).
FLAGS: dict[NodeState, tuple[NodeFlag, ...] | None] = {
    NodeState.ONLINE: (),
    NodeState.MAINTENANCE: (NodeFlag.maintenance,),
    NodeState.SHUTDOWN: (NodeFlag.maintenance,),
    NodeState.DECOMMISSIONED: None,
}


class Action(StrEnum):
    """What the reconciler must do next for the node whose turn it is."""

    NOTHING = "nothing"
    START_POD = "start-pod"
    PUBLISH = "publish"
    AWAIT_REBALANCE = "await-rebalance"
    CLEANUP = "cleanup"
    REMOVE_FROM_MAP = "remove-from-map"
    FINISH = "finish"


@dataclass(frozen=True)
class NodeView:
    """Everything the planner needs to know about one node, as observed now."""

    desired: NodeState
    effective: NodeState | None
    flags: tuple[NodeFlag, ...] | None  # None: not in the cluster map
    pod_ready: bool
    rebalance_settled: bool  # no global rebalance is running
    cleaned: bool = False
    skip_rebalance: bool = False
    force_remove: bool = False
    rebalance_enabled: bool = True


@dataclass(frozen=True)
class Step:
    """The next step: an action, and for PUBLISH the node's new flags and whether a rebalance starts."""

    action: Action
    flags: tuple[NodeFlag, ...] = ()
    rebalance: bool = False


def operation(effective: NodeState | None, desired: NodeState) -> str:
    """Name of the lifecycle operation for a transition (ValueError if not allowed)."""
    if effective == desired:
        return "none"
    try:
        return TRANSITIONS[(effective, desired)]
    except KeyError:
        raise ValueError(f"transition {effective} -> {desired} is not allowed") from None


def _leave_target(desired: NodeState) -> tuple[NodeFlag, ...]:
    """Flags a node carries while its data moves away for `desired` (decommission keeps a flag until removed)."""
    target = FLAGS[desired]
    return (NodeFlag.decommission,) if target is None else target


def needs_pod(view: NodeView) -> bool:
    """Whether the node's pod must run for the rest of its transition (data may move or cleanup is due)."""
    if view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE):
        return True
    if view.desired is NodeState.DECOMMISSIONED and view.force_remove:
        return False
    if view.flags is None:
        return False  # never joined, or already removed: nothing to move or clean up
    if view.flags != _leave_target(view.desired) or not view.rebalance_settled:
        return True
    return view.desired is NodeState.DECOMMISSIONED and not view.cleaned


def is_done(view: NodeView) -> bool:
    """Whether the node is where its desired state wants it (effective state and map entry)."""
    if view.effective != view.desired:
        return False
    return view.flags == FLAGS[view.desired] or (view.desired is NodeState.SHUTDOWN and view.flags is None)


def next_step(view: NodeView) -> Step:
    """The one next step for a node whose turn it is; NOTHING when it is done."""
    if is_done(view):
        return Step(Action.NOTHING)
    operation(view.effective, view.desired)  # raises on a transition the API should have rejected
    if view.desired is NodeState.DECOMMISSIONED and view.force_remove:
        return _forced_removal(view)
    if needs_pod(view) and not view.pod_ready:
        return Step(Action.START_POD)
    target = _leave_target(view.desired)
    if view.flags is None and view.desired is not NodeState.DECOMMISSIONED:
        if view.desired is NodeState.SHUTDOWN:
            return Step(Action.FINISH)  # created shut down: a member-to-be that never ran
        joins_placement = not target
        return Step(Action.PUBLISH, target, rebalance=joins_placement and _may_rebalance(view))
    if view.flags is not None and view.flags != target:
        placement_changes = (not view.flags) != (not target)
        return Step(Action.PUBLISH, target, rebalance=placement_changes and _may_rebalance(view))
    if not view.rebalance_settled:
        return Step(Action.AWAIT_REBALANCE)
    if view.desired is NodeState.DECOMMISSIONED and view.flags is not None:
        return Step(Action.REMOVE_FROM_MAP if view.cleaned else Action.CLEANUP)
    return Step(Action.FINISH)


def _may_rebalance(view: NodeView) -> bool:
    return view.rebalance_enabled and not view.skip_rebalance


def _forced_removal(view: NodeView) -> Step:
    """AIStore's remove-from-smap: out of the map at once, no rebalance; cleanup only if the pod answers."""
    if view.flags is not None:
        if view.pod_ready and not view.cleaned:
            return Step(Action.CLEANUP)
        return Step(Action.REMOVE_FROM_MAP)
    return Step(Action.FINISH)
