"""Lifecycle planning: every transition of DESIGN.md walked step by step through the pure planner."""

from __future__ import annotations

import dataclasses

import pytest
from storage_node.schemas import NodeFlag
from storage_operator.model.states import NodeState
from storage_operator.plan import lifecycle
from storage_operator.plan.lifecycle import Action, NodeView

MAINT = (NodeFlag.maintenance,)
DECOM = (NodeFlag.decommission,)


def walk(view: NodeView, limit: int = 12) -> list[Action]:
    """Apply each step's effect to the view, as the reconciler would, and list the actions taken."""
    actions: list[Action] = []
    for _ in range(limit):
        step = lifecycle.next_step(view)
        if step.action is Action.NOTHING:
            return actions
        actions.append(step.action)
        if step.action is Action.START_POD:
            view = dataclasses.replace(view, pod_ready=True)
        elif step.action is Action.PUBLISH:
            view = dataclasses.replace(view, flags=step.flags, rebalance_settled=not step.rebalance)
            if step.rebalance:
                actions.append(Action.AWAIT_REBALANCE)
                view = dataclasses.replace(view, rebalance_settled=True)
        elif step.action is Action.CLEANUP:
            view = dataclasses.replace(view, cleaned=True)
        elif step.action is Action.REMOVE_FROM_MAP:
            view = dataclasses.replace(view, flags=None)
        elif step.action is Action.FINISH:
            view = dataclasses.replace(view, effective=view.desired)
    raise AssertionError(f"no convergence: {actions}")


def view(effective: NodeState | None, desired: NodeState, flags: tuple[NodeFlag, ...] | None, **kw: bool) -> NodeView:
    base = {"pod_ready": effective in (NodeState.ONLINE, NodeState.MAINTENANCE), "rebalance_settled": True}
    base.update(kw)
    return NodeView(desired=desired, effective=effective, flags=flags, **base)


P, R, A, C, X, F, S = (
    Action.PUBLISH,
    Action.AWAIT_REBALANCE,
    Action.AWAIT_REBALANCE,
    Action.CLEANUP,
    Action.REMOVE_FROM_MAP,
    Action.FINISH,
    Action.START_POD,
)


@pytest.mark.parametrize(
    ("effective", "desired", "flags", "expected"),
    [
        (None, NodeState.ONLINE, None, [S, P, R, F]),  # join: pod, map + rebalance fills it
        (None, NodeState.MAINTENANCE, None, [S, P, F]),  # standby: in the map, no data, no rebalance
        (NodeState.ONLINE, NodeState.MAINTENANCE, (), [P, R, F]),
        (NodeState.ONLINE, NodeState.SHUTDOWN, (), [P, R, F]),  # pod removal follows FINISH
        (NodeState.ONLINE, NodeState.DECOMMISSIONED, (), [P, R, C, X, F]),
        (NodeState.MAINTENANCE, NodeState.ONLINE, MAINT, [P, R, F]),  # stop-maintenance rebalances back
        (NodeState.MAINTENANCE, NodeState.SHUTDOWN, MAINT, [F]),  # already drained
        (NodeState.MAINTENANCE, NodeState.DECOMMISSIONED, MAINT, [P, C, X, F]),  # nothing left to move
        (NodeState.SHUTDOWN, NodeState.MAINTENANCE, MAINT, [S, F]),  # RESTART
        (NodeState.SHUTDOWN, NodeState.ONLINE, MAINT, [S, P, R, F]),  # RESTART then stop-maintenance
        (NodeState.SHUTDOWN, NodeState.DECOMMISSIONED, MAINT, [S, P, C, X, F]),  # restart to clean up
    ],
)
def test_every_transition_converges_in_order(
    effective: NodeState | None,
    desired: NodeState,
    flags: tuple[NodeFlag, ...] | None,
    expected: list[Action],
) -> None:
    assert walk(view(effective, desired, flags)) == expected


def test_leaving_node_is_never_finished_before_the_rebalance_completes() -> None:
    running = view(NodeState.ONLINE, NodeState.SHUTDOWN, MAINT, rebalance_settled=False)
    assert lifecycle.next_step(running).action is Action.AWAIT_REBALANCE
    assert lifecycle.needs_pod(running)
    decom = view(NodeState.ONLINE, NodeState.DECOMMISSIONED, DECOM, rebalance_settled=False)
    assert lifecycle.next_step(decom).action is Action.AWAIT_REBALANCE


def test_pod_of_a_leaving_node_is_restarted_while_its_data_still_moves() -> None:
    crashed = view(NodeState.ONLINE, NodeState.MAINTENANCE, MAINT, pod_ready=False, rebalance_settled=False)
    assert lifecycle.next_step(crashed).action is Action.START_POD


def test_skip_rebalance_publishes_without_a_rebalance() -> None:
    step = lifecycle.next_step(view(NodeState.ONLINE, NodeState.MAINTENANCE, (), skip_rebalance=True))
    assert step.action is Action.PUBLISH and step.flags == MAINT and not step.rebalance
    step = lifecycle.next_step(view(NodeState.ONLINE, NodeState.MAINTENANCE, (), rebalance_enabled=False))
    assert not step.rebalance


def test_forced_removal_leaves_the_map_at_once_without_rebalance() -> None:
    forced = view(NodeState.ONLINE, NodeState.DECOMMISSIONED, (), force_remove=True, pod_ready=False)
    assert walk(forced) == [X, F]
    assert walk(dataclasses.replace(forced, pod_ready=True)) == [C, X, F]
    assert not lifecycle.needs_pod(forced)


def test_node_that_never_joined_is_decommissioned_without_a_pod() -> None:
    assert walk(view(None, NodeState.DECOMMISSIONED, None)) == [F]


def test_done_nodes_need_nothing() -> None:
    for state, flags in lifecycle.FLAGS.items():
        assert lifecycle.next_step(view(state, state, flags)).action is Action.NOTHING
    assert not lifecycle.needs_pod(view(NodeState.SHUTDOWN, NodeState.SHUTDOWN, MAINT))


def test_leaving_decommissioned_is_not_a_transition() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        lifecycle.operation(NodeState.DECOMMISSIONED, NodeState.ONLINE)
    assert lifecycle.operation(NodeState.MAINTENANCE, NodeState.ONLINE) == "stop-maintenance"
