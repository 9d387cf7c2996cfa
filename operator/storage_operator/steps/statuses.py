"""The one status write of a pass: each StorageNode's phase, conditions and progress, and the cluster's summary.

Everything is decided by the pure modules (``plan.phases`` for phases and conditions, ``plan.progress`` for rebalance
figures, ``model.statuses`` for the status form and its patch); this module builds the new statuses and writes what
changed, then hands what it wrote to ``metrics`` (the conditions and states as gauges), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage_operator.clients import concurrency, metrics
from storage_operator.clients.protocols import Kube
from storage_operator.model import clock, statuses
from storage_operator.model.bodies import Body, controlled_by, name_of, pod_ready
from storage_operator.model.states import ClusterPhase, ClusterState
from storage_operator.plan import capacity, conditions, lifecycle, phases, progress, reachable, replacing, rollouts
from storage_operator.plan.lifecycle import Action
from storage_operator.plan.passes import Pass
from storage_operator.resources import pods


async def report(kube: Kube, p: Pass, *, stall_seconds: float) -> None:
    """Write every node's status and the cluster's (phases, conditions, progress, counts), where they changed."""
    at = p.clock.now()
    state = p.spec.state
    shared = _Shared(
        state=state,
        waiting_for=p.waiting_for(),
        stalled_since=p.stalled_since(stall_seconds),
        rebalance_id=p.status.rebalance_id,
        percent=p.status.rebalance.percent if p.status.rebalance else None,
        now=clock.iso(at),
        no_room=p.short_of_room() if state is ClusterState.ONLINE else {},
        rollout=_Rollout.of(p) if state is ClusterState.ONLINE and p.status.map is not None else None,
    )
    situations = {name_of(node): _situation(p, node, shared) for node in p.nodes}
    nodes = {name_of(node): _node_status(p, node, situations[name_of(node)], at, shared.now) for node in p.nodes}
    unavailable = tuple(sorted(n for n, s in situations.items() if s.unavailable))
    estimate = _estimate(p, shared, nodes, unavailable)
    if estimate is not None:
        nodes = {n: _with_copies(st, estimate, n) for n, st in nodes.items()}
    await concurrency.bounded([_write_node(kube, p, node, nodes[name_of(node)]) for node in p.nodes])
    cluster = _cluster_status(p, shared, unavailable, estimate)
    await write_cluster(kube, p.namespace, p.name, p.api_status, cluster.to_status())
    metrics.STATUSES.observe(p.namespace, p.name, cluster, nodes)


@dataclass(frozen=True)
class _Shared:
    """What every node's status of this report has in common."""

    state: ClusterState
    waiting_for: str
    stalled_since: str | None
    rebalance_id: str | None
    percent: int | None
    now: str  # the report's timestamp, as written
    no_room: Mapping[str, str]  # nodes whose departure waits for room, and why
    rollout: _Rollout | None  # the rolling upgrade as it stands (None: the cluster is not online)


@dataclass(frozen=True)
class _Rollout:
    """The rolling upgrade as this report tells it."""

    decision: rollouts.Decision
    members: Mapping[str, rollouts.Member]
    message: str  # "" when every online node runs the target revision

    @classmethod
    def of(cls, p: Pass) -> _Rollout:
        d, target, members = p.rollout_decision(), p.target_revision, p.rollout_members()
        message = ""
        if rollouts.rolling(d):
            done = rollouts.updated(members, target)
            message = f"rolling upgrade to revision {target}, {done} of {len(members)} nodes updated: {d.why}"
        return cls(decision=d, members=members, message=message)

    def about(self, node: str) -> tuple[str, bool]:
        """What the rollout tells of `node` ("" unless it is the one rolled), and whether it is stuck there."""
        if self.decision.node != node or self.decision.act in (rollouts.Act.NONE, rollouts.Act.FINISH):
            return "", False
        return self.message, self.decision.act is rollouts.Act.STUCK


def _situation(p: Pass, node: Body, shared: _Shared) -> phases.NodeSituation:
    n = name_of(node)
    online = shared.state is ClusterState.ONLINE
    view = p.view(node)
    upgrading, stuck = shared.rollout.about(n) if shared.rollout is not None else ("", False)
    return phases.NodeSituation(
        view=view,
        step=lifecycle.next_step(view) if online else lifecycle.Step(Action.NOTHING),
        is_turn=p.is_turn(node),
        waiting_for=shared.waiting_for,
        pod_exists=n in p.pods,
        pod_ready=pod_ready(p.pods.get(n)),
        pod_wanted=online and p.pod_wanted(node),
        cluster_online=online,
        rebalance_id=shared.rebalance_id,
        percent=shared.percent,
        stalled_since=shared.stalled_since,
        skip_note=phases.skip_note(p.node_specs[n], p.spec),
        no_room=shared.no_room.get(n, "") if online else "",
        upgrading=upgrading,
        stuck=stuck,
        answering=n in p.reports,
        replacing=_replacing(p.node_statuses[n].replacement),
    )


def _replacing(record: statuses.Replacement | None) -> str:
    """The stage of a replacement under way ("" when none is)."""
    return record.stage.value if record is not None and record.stage in replacing.ACTIVE else ""


def _node_status(p: Pass, node: Body, s: phases.NodeSituation, at: datetime, stamp: str) -> statuses.NodeStatus:
    n = name_of(node)
    old = p.node_statuses[n]
    gen = int(node["metadata"].get("generation", 0))
    report = p.reports.get(n)
    member = p.status.map.nodes.get(n) if p.status.map else None
    objects, size, progressed, space = old.objects, old.bytes, old.rebalance, old.capacity
    if report is not None and report.map_version is not None:  # without a map it has not said what it holds
        objects, size = report.objects, report.bytes
    if report is not None:
        space = capacity.status_of(report.capacity) if report.capacity is not None else space
        if report.rebalance.id is not None and report.rebalance.id == s.rebalance_id:
            progressed = progress.node_progress(report.rebalance, s.percent or 100, at)
    return statuses.NodeStatus(
        state=p.effective(node),
        phase=phases.node_phase(s).value,
        observed_generation=gen,
        pod=pods.pod_name(n) if n in p.pods else None,
        address=p.url(n) or (member.url if member else None),
        map_version=report.map_version if report else old.map_version,
        objects=objects,
        bytes=size,
        capacity=space,
        rebalance=progressed,
        pending_since=phases.pending_since(s.step, is_turn=s.is_turn, old=old.pending_since, now=stamp),
        unavailable_since=(old.unavailable_since or stamp) if s.unavailable else None,
        replacement=old.replacement,  # written by the replacement step itself, stage by stage
        conditions=tuple(conditions.merge(old.conditions, phases.node_conditions(s), generation=gen, now=stamp)),
    )


def _estimate(
    p: Pass, shared: _Shared, nodes: Mapping[str, statuses.NodeStatus], unavailable: tuple[str, ...]
) -> reachable.Estimate | None:
    """Objects below K copies as this report sees them (None unless the cluster is online with a map)."""
    if shared.state is not ClusterState.ONLINE or p.status.map is None:
        return None
    seen = {
        n: reachable.Seen(
            objects=st.objects, unavailable=n in unavailable, before=p.node_statuses[n].objects_below_copies
        )
        for n, st in nodes.items()
    }
    return reachable.estimate(p.status.map, seen, rebuilding=p.status.running is not None)


def _with_copies(st: statuses.NodeStatus, estimate: reachable.Estimate, n: str) -> statuses.NodeStatus:
    return st.model_copy(
        update={"reachable_copies": estimate.reachable.get(n), "objects_below_copies": estimate.below.get(n)}
    )


def _cluster_status(
    p: Pass, shared: _Shared, unavailable: tuple[str, ...], estimate: reachable.Estimate | None
) -> statuses.ClusterStatus:
    state = shared.state
    online = state is ClusterState.ONLINE
    running = p.status.running is not None
    transition = p.status.transition is not None
    pods_left = bool(p.pods)
    waiting = shared.waiting_for if transition else ""
    found = phases.cluster_conditions(
        state=state,
        settled=not transition and not running and (p.status.map is not None or not online),
        pods_left=pods_left,
        rebalancing=running,
        waiting=waiting,
        stalled_since=shared.stalled_since,
        rebalance_id=shared.rebalance_id,
        unavailable=unavailable,
        copies=p.status.map.copies if p.status.map is not None else p.spec.redundancy.copies,
        estimate=estimate,
    )
    phase = phases.cluster_phase(
        state=state, formed=p.status.map is not None, transition=transition, rebalancing=running, pods_left=pods_left
    )
    ro = shared.rollout
    target = p.target_revision
    members = ro.members if ro is not None else p.rollout_members()
    current = rollouts.current_revision(members, target, p.status.current_revision)
    if ro is not None and ro.message:
        d = ro.decision
        stuck, paused = d.act is rollouts.Act.STUCK, d.act is rollouts.Act.PAUSED
        found = phases.with_rollout(found, message=ro.message, paused=paused, stuck=stuck)
        if p.status.rollout is not None:
            phase = ClusterPhase.UPGRADING
    return p.status.model_copy(
        update={
            "current_revision": current,
            "update_revision": target,
            "updated_nodes": rollouts.updated(members, target),
            "state": phases.cluster_state(state, pods_left=pods_left, previous=p.status.state),
            "phase": phase.value,
            "observed_generation": p.generation,
            "node_counts": phases.node_counts([p.effective(node) for node in p.nodes]),
            "objects_below_copies": estimate.total if estimate is not None else None,
            "service": _client_service(p),
            "conditions": tuple(
                conditions.merge(p.status.conditions or (), found, generation=p.generation, now=shared.now)
            ),
        }
    )


def _client_service(p: Pass) -> statuses.ClientService | None:
    """The client Service as this pass observed it (None: there is none, or the name is another object's)."""
    observed = p.client_service
    if observed is None or not controlled_by(observed, p.cluster):
        return None
    ports = (observed.get("spec") or {}).get("ports") or ()
    port = next((q.get("port") for q in ports if q.get("name") == "http"), None)
    return statuses.ClientService(name=name_of(observed), port=port) if isinstance(port, int) else None


async def write_cluster(
    kube: Kube, namespace: str, name: str, api_status: Mapping[str, Any], status: Mapping[str, Any]
) -> statuses.Raw:
    """Write the StorageCluster `status` (keys it lacks are removed) unless `api_status` (what the API holds) has it.

    Returns the status as the API holds it after.
    """
    patch, after = statuses.patch(api_status, {k: status.get(k) for k in statuses.STATUS_KEYS})
    if patch is not None:
        await kube.patch_cluster_status(namespace, name, patch)
    return after


async def _write_node(kube: Kube, p: Pass, node: Body, new: statuses.NodeStatus) -> None:
    """Patch the node's status where it changed (nothing when only condition timestamps would)."""
    old = p.node_statuses[name_of(node)]
    if old.same_as(new):
        return
    before, after = old.to_status(), new.to_status()
    patch = {k: after.get(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    await kube.patch_node_status(p.namespace, name_of(node), patch)
