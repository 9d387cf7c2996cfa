"""Rolling upgrades planned (pure): which node's pod is re-created next at the spec's revision, and its next step.

A node is rolled in one short flow, one node at a time; ``drain`` adds the bracketed steps:

    start (record the node) -> [map flags it maintenance + rebalance -> the rebalance runs its full way -> grace]
        -> delete its pod -> the pod is re-created at the new revision (``steps.resources.ensure_objects``)
        -> Ready within readyTimeoutSeconds -> [grace -> map flags it online + rebalance -> the rebalance runs
        its full way] -> finish (clear the record) -> the next node

Invariants:
- one change at a time: a node is started only while no membership change is in progress or pending and no
  rebalance runs, and while every other serving node answers; a membership change waits while a node is
  rolled (the reconciler does not advance transitions while ``status.rollout`` is set);
- the target is always the revision the spec asks for now: setting the spec back (a rollback) makes the
  node in progress re-create its pod at the old revision, and the nodes not rolled yet are done already;
- a new pod that is not Ready within the deadline stops the rollout at its node (stuck): nothing else is
  rolled until that pod becomes Ready or the spec changes; the other nodes stay at their revision;
- a drained node's pod is deleted only after the rebalance that moved its data off completed;
- only online nodes are rolled: a node in maintenance or shut down is not woken for an update; a shut-down
  node's pod is built at the new revision when it comes back, a node in maintenance is rolled once online;
- paused: no new node is started (the one in progress finishes);
- each step is derived from what is observed and the record in the status, so a restarted operator resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from storage_node.schemas import NodeFlag

from storage_operator.model.specs import UpgradeSpec
from storage_operator.model.states import UpgradeStrategy
from storage_operator.model.statuses import Rollout

# drain: after the rebalance that emptied the node, and after its new pod answers, this long before the next
# step: clients that pick nodes from the status (phase Upgrading) and the other nodes (the map with its new
# address, who is drained) catch up first, as a preStop sleep lets endpoints catch up
DRAIN_GRACE_S = 5.0
RESTART_GRACE_S = 3.0  # restart: from the node's record (its status says Upgrading) to its pod's deletion
OUT = (NodeFlag.maintenance,)  # a drained node's flags in the map while its pod is re-created


@dataclass(frozen=True)
class Member:
    """One node as the rollout sees it."""

    name: str
    online: bool  # effective and desired state online: a node the rollout updates
    revision: str | None  # the revision its pod was built at ("" unmarked; None: no pod)
    deleting: bool = False  # its pod is going away
    answering: bool = False  # its pod is Ready and the node answered this pass
    age_s: float = 0.0  # seconds since its pod was created
    ready_s: float = 0.0  # seconds since its pod became Ready (0 when it is not)
    flags: tuple[NodeFlag, ...] | None = ()  # its flags in the map (None: not a member)


class Act(StrEnum):
    """What the rolling step does now."""

    NONE = "none"  # every online node is at the target revision
    WAIT = "wait"  # a membership change, a rebalance or a node that does not answer comes first
    PAUSED = "paused"  # spec.upgrade.paused: no node is started
    START = "start"  # record the node as the one being rolled
    LEAVE = "leave"  # drain: the node flagged maintenance in a new map, with a rebalance
    AWAIT_REBALANCE = "await-rebalance"
    GRACE = "grace"  # drain: a few seconds for clients and nodes to catch up before the next step
    DELETE_POD = "delete-pod"
    AWAIT_POD = "await-pod"  # its pod is going, or coming at the target revision and not Ready yet
    STUCK = "stuck"  # its new pod was not Ready within the deadline: the rollout stops here
    RETURN = "return"  # drain: the node back in placement in a new map, with a rebalance
    FINISH = "finish"  # the node is done: clear the record


@dataclass(frozen=True)
class Decision:
    """The rolling step's next act, the node it concerns and a sentence for the status."""

    act: Act
    node: str | None = None
    why: str = ""
    strategy: UpgradeStrategy | None = None  # START: how the node is rolled


def decide(
    members: Mapping[str, Member],
    target: str,
    record: Rollout | None,
    settings: UpgradeSpec,
    *,
    busy: str = "",
    rebalancing: bool = False,
    can_drain: bool = True,
    quiet_s: float = float("inf"),
    started_s: float = float("inf"),
) -> Decision:
    """The next act of the rollout towards revision `target`.

    `busy` names the membership change in progress ("" when none), `rebalancing` whether a global rebalance
    runs, `can_drain` whether the cluster can move a node's data off (rebalance enabled, another online node),
    `quiet_s` how long ago the last global rebalance finished, `started_s` how long ago the node in progress
    was recorded.
    """
    if record is not None:
        return _step(
            members.get(record.node), target, record, settings, rebalancing=rebalancing, quiet_s=quiet_s,
            started_s=started_s,
        )  # fmt: skip
    stale = sorted(n for n, m in members.items() if m.online and m.revision != target)
    if not stale:
        return Decision(Act.NONE)
    if busy:
        return Decision(Act.WAIT, why=busy)
    if rebalancing:
        return Decision(Act.WAIT, why="waiting for the global rebalance to finish")
    if settings.paused:
        return Decision(Act.PAUSED, why=f"paused (spec.upgrade.paused) with {len(stale)} node(s) to update")
    silent = sorted(n for n, m in members.items() if m.online and (not m.answering or m.deleting))
    if silent:
        return Decision(Act.WAIT, why=f"waiting for {', '.join(silent)} to be ready")
    strategy = settings.strategy if can_drain else UpgradeStrategy.RESTART
    return Decision(Act.START, stale[0], why=f"rolling {stale[0]} ({strategy.value})", strategy=strategy)


def _step(
    m: Member | None,
    target: str,
    record: Rollout,
    settings: UpgradeSpec,
    *,
    rebalancing: bool,
    quiet_s: float,
    started_s: float,
) -> Decision:
    """The next step for the node in progress."""
    n = record.node
    if m is None:
        return Decision(Act.FINISH, n, why=f"{n} is gone")
    drain = record.strategy is UpgradeStrategy.DRAIN
    if m.revision != target:
        if m.revision is None or m.deleting:
            return Decision(Act.AWAIT_POD, n, why=f"re-creating {n}'s pod")
        if drain and m.answering and m.flags != OUT:
            return Decision(Act.LEAVE, n, why=f"moving {n}'s data off")
        if drain and rebalancing:
            return Decision(Act.AWAIT_REBALANCE, n, why=f"moving {n}'s data off")
        if drain and m.answering and quiet_s < DRAIN_GRACE_S:
            return Decision(Act.GRACE, n, why=f"{n} is drained; its pod goes in a moment")
        if not drain and m.answering and started_s < RESTART_GRACE_S:
            # clients that pick nodes from the status (phase Upgrading now) stop sending to it first
            return Decision(Act.GRACE, n, why=f"{n} is marked upgrading; its pod goes in a moment")
        return Decision(Act.DELETE_POD, n, why=f"re-creating {n}'s pod")
    if not m.answering:
        if m.age_s > settings.ready_timeout_seconds:
            why = f"stopped at {n}: its pod at revision {target} is not Ready after {int(m.age_s)}s"
            return Decision(Act.STUCK, n, why=why)
        return Decision(Act.AWAIT_POD, n, why=f"waiting for {n}'s new pod to be ready")
    if drain and m.flags == OUT:
        if m.ready_s < DRAIN_GRACE_S:
            return Decision(Act.GRACE, n, why=f"{n}'s new pod is ready; it comes back online in a moment")
        return Decision(Act.RETURN, n, why=f"moving data back to {n}")
    if rebalancing:
        return Decision(Act.AWAIT_REBALANCE, n, why=f"moving data back to {n}")
    return Decision(Act.FINISH, n, why=f"{n} is at revision {target}")


def rolling(d: Decision) -> bool:
    """Whether the rollout is under way (a node is being rolled or nodes wait to be)."""
    return d.act is not Act.NONE


def updated(members: Mapping[str, Member], target: str) -> int:
    """How many nodes' pods are at the target revision."""
    return sum(1 for m in members.values() if m.revision == target and not m.deleting)


def current_revision(members: Mapping[str, Member], target: str, previous: str | None) -> str:
    """The revision of the online nodes not updated yet (the target once they all are)."""
    stale = [m.revision for m in members.values() if m.online and m.revision is not None and m.revision != target]
    if not stale:
        return target
    if previous and previous in stale:
        return previous
    return max(set(stale), key=lambda r: (stale.count(r), r))
