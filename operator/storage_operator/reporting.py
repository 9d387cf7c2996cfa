"""Status writing: each StorageNode's phase, conditions and progress, and the StorageCluster's summary."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Any, cast

import kopf

from storage_operator import builders, conditions, lifecycle, maps, passes, progress, statuses
from storage_operator.kube import Body, Kube
from storage_operator.lifecycle import Action
from storage_operator.passes import Pass, effective_state, name_of, pod_ready
from storage_operator.states import ClusterPhase, ClusterState, NodeState

WRITE_CONCURRENCY = 16  # node status patches in flight at once (100 nodes must not take 100 round trips)


def event_info(obj: Body, *, reason: str, message: str) -> None:
    """A Normal Kubernetes event on `obj`."""
    kopf.info(cast(Any, obj), reason=reason, message=message)


def event_warn(obj: Body, *, reason: str, message: str) -> None:
    """A Warning Kubernetes event on `obj`."""
    kopf.warn(cast(Any, obj), reason=reason, message=message)


async def report(kube: Kube, p: Pass, *, stall_seconds: float) -> None:
    """Write every node's status and the cluster's (phases, conditions, progress, counts)."""
    now = passes.now()
    state = ClusterState(p.spec.get("state", ClusterState.ONLINE))
    online = state is ClusterState.ONLINE
    rid = p.rebalance.get("id") if p.rebalance else (p.last_rebalance or {}).get("id")
    cluster_pct = int((p.rebalance or {}).get("percent", 100))
    stalled = p.stalled_since(stall_seconds)
    effective: list[NodeState | None] = []
    writes: list[Awaitable[None]] = []
    for node in p.nodes:
        n = name_of(node)
        view = p.view(node)
        step = lifecycle.next_step(view) if online else lifecycle.Step(Action.NOTHING)
        is_turn = p.transition.get("node") == n
        wanted = online and p.pod_wanted(node)
        skip = ""
        if node.get("spec", {}).get("skipRebalance"):
            skip = "spec.skipRebalance is set: state changes of this node do not migrate its data"
        elif not p.spec.get("rebalance", {}).get("enabled", True):
            skip = "rebalance is disabled for the cluster: state changes do not migrate data"
        situation = statuses.NodeSituation(
            view=view,
            step=step,
            is_turn=is_turn,
            waiting_for=p.waiting_for(),
            pod_exists=n in p.pods,
            pod_ready=pod_ready(p.pods.get(n)),
            pod_wanted=wanted,
            cluster_online=online,
            rebalance_id=rid,
            percent=cluster_pct if p.rebalance else None,
            stalled_since=stalled,
            skip_note=skip,
        )
        writes.append(_write_node(kube, p, node, situation, now))
        effective.append(effective_state(node))
    await bounded(writes)
    phase = statuses.cluster_phase(
        online=online,
        formed=p.smap is not None,
        transition=bool(p.transition),
        rebalancing=not p.rebalance_settled(),
    )
    if state is ClusterState.DECOMMISSIONED:
        phase = ClusterPhase.DECOMMISSIONED
    elif state is ClusterState.SHUTDOWN and p.pods:
        phase = ClusterPhase.SHUTTING_DOWN
    cluster_conditions = statuses.cluster_conditions(
        state=state,
        settled=not p.transition and p.rebalance_settled() and (p.smap is not None or not online),
        pods_left=bool(p.pods),
        rebalancing=not p.rebalance_settled(),
        waiting=p.waiting_for() if p.transition else "",
        stalled_since=stalled,
        rebalance_id=rid,
    )
    final_state = state.value
    if state is ClusterState.SHUTDOWN and p.pods:
        final_state = (p.cluster.get("status") or {}).get("state", ClusterState.ONLINE.value)
    gen = int(p.cluster["metadata"].get("generation", 0))
    await write_cluster(
        kube,
        p,
        extra={
            "state": final_state,
            "phase": phase.value,
            "observedGeneration": gen,
            "nodeCounts": statuses.node_counts(effective),
            "conditions": conditions.merge(
                (p.cluster.get("status") or {}).get("conditions") or [],
                cluster_conditions,
                generation=gen,
                now=passes.iso(now),
            ),
        },
    )


async def bounded(writes: Iterable[Awaitable[None]]) -> None:
    """Run the API calls, at most WRITE_CONCURRENCY at once."""
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def one(write: Awaitable[None]) -> None:
        async with limit:
            await write

    await asyncio.gather(*(one(w) for w in writes))


async def write_cluster(kube: Kube, p: Pass, *, extra: dict[str, Any]) -> None:
    """The map, the rebalance and the transition (the resumable state), plus `extra`; skipped when all is as is."""
    body = {
        "map": maps.to_status(p.smap),
        "rebalance": p.rebalance,
        "lastRebalance": p.last_rebalance,
        "transition": p.transition or None,
        **extra,
    }
    status = dict(p.cluster.get("status") or {})
    if all(status.get(k) == v for k, v in body.items()):
        return
    await kube.patch_cluster_status(p.namespace, p.name, {k: _replacing(status.get(k), v) for k, v in body.items()})
    for k, v in body.items():  # what the pass knows is written now (a merge patch: None removes the key)
        if v is None:
            status.pop(k, None)
        else:
            status[k] = v
    p.cluster["status"] = status


def _replacing(old: Any, new: Any) -> Any:
    """`new` as a merge-patch value that replaces `old` whole: keys only `old` has are removed, not kept.

    A superseded rebalance must not keep the finishedAt or totals of the one it replaced in the status.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        return {**dict.fromkeys((k for k in old if k not in new), None), **new}
    return new


async def _write_node(kube: Kube, p: Pass, node: Body, s: statuses.NodeSituation, now: datetime) -> None:
    n = name_of(node)
    old = node.get("status") or {}
    gen = int(node["metadata"].get("generation", 0))
    report = p.reports.get(n)
    new: dict[str, Any] = {
        "phase": statuses.node_phase(s).value,
        "observedGeneration": gen,
        "pod": builders.pod_name(n) if n in p.pods else None,
        "address": p.url(n) or (p.smap.nodes[n].url if p.smap and n in p.smap.nodes else None),
        "mapVersion": report.map_version if report else old.get("mapVersion"),
        "conditions": conditions.merge(
            old.get("conditions") or [], statuses.node_conditions(s), generation=gen, now=passes.iso(now)
        ),
    }
    if report is not None:
        new["objects"], new["bytes"] = report.objects, report.bytes
        if report.rebalance.id is not None and report.rebalance.id == s.rebalance_id:
            new["rebalance"] = progress.node_progress(report.rebalance, s.percent or 100, now)
    if s.step.action is not Action.NOTHING and not s.is_turn and not old.get("pendingSince"):
        new["pendingSince"] = passes.iso(now)
    elif s.step.action is Action.NOTHING and old.get("pendingSince"):
        new["pendingSince"] = None
    if n in p.reached:
        new["state"] = old["state"]
    elif all(old.get(k) == v for k, v in new.items() if k != "conditions") and _same_conditions(
        old.get("conditions"), new["conditions"]
    ):
        return
    node.setdefault("status", {}).update(new)
    await kube.patch_node_status(p.namespace, n, new)


def set_effective(p: Pass, node: Body, state: NodeState) -> None:
    """Record the state a node has reached; `report` writes it with the rest of the node's status, this pass."""
    node.setdefault("status", {})["state"] = state.value
    p.reached.add(name_of(node))


def _same_conditions(old: Any, new: list[dict[str, Any]]) -> bool:
    if not isinstance(old, list) or len(old) != len(new):
        return False
    keys = ("type", "status", "reason", "message", "observedGeneration")
    return all(all(o.get(k) == c.get(k) for k in keys) for o, c in zip(old, new, strict=True))
