"""The redundancy steps of a pass: a node unavailable past the loss grace given up, one on an empty volume refilled.

Given up: a new map flags it ``lost`` (no placement) with a rebalance that re-creates its copies on the others.
Taken back, once it answers again: the flag goes, with a rebalance that reconciles its copies (what it missed is
sent to it, what it no longer holds goes) and gives it its share again. One change per pass; none while a
transition or a rolling upgrade is under way (they restart pods on purpose). With one copy, or a grace of 0,
nothing is given up: its objects have nowhere else to come from.

Refilled: a member that reports ``refill_after`` (it started on an empty volume, wiped or replaced, and was a
member with data before) gets a new rebalance, which sends it its share from the other holders; with one copy
there is nothing to send, and the warning says how many objects it held.
"""

from __future__ import annotations

from storage_node.schemas import NodeFlag, rebalance_number

from storage_operator.clients import events
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model import clock, maps
from storage_operator.model.bodies import name_of, pod_ready
from storage_operator.model.states import NodeState
from storage_operator.plan.passes import Outcome, Pass
from storage_operator.steps import publishing


async def watch_losses(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """Give up a node unavailable past `spec.redundancy.lossGraceSeconds`, or take one given up back."""
    smap = p.status.map
    if smap is None or p.status.transition is not None or p.status.rollout is not None:
        return Outcome()
    grace = p.spec.redundancy.loss_grace_seconds
    at = p.clock.now()
    for node in p.nodes:
        n = name_of(node)
        entry = smap.nodes.get(n)
        if entry is None:
            continue
        answers = n in p.reports and pod_ready(p.pods.get(n))
        if NodeFlag.lost in entry.flags:
            if answers:
                flags = [f for f in entry.flags if f is not NodeFlag.lost]
                events.info(node, reason="NodeBack", message=f"{n} answers again: it takes its share back")
                why = f"{n} back after it was given up"
                return await publishing.publish(
                    kube, fleet, p, maps.with_flags(smap, n, flags), rebalance=True, why=why
                )
            continue
        since = clock.parse(p.node_statuses[n].unavailable_since)
        serving = p.desired(node) in (NodeState.ONLINE, NodeState.MAINTENANCE) and not entry.flags
        if answers or since is None or not serving or smap.copies == 1 or grace <= 0:
            continue
        if clock.seconds_since(since, at) >= grace:
            message = f"{n} unavailable for {grace}s: its copies are re-created on the other nodes"
            events.warn(node, reason="NodeLost", message=message)
            lost = maps.with_flags(smap, n, [*entry.flags, NodeFlag.lost])
            return await publishing.publish(kube, fleet, p, lost, rebalance=True, why=f"{n} given up")
    return Outcome()


async def refill(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """A rebalance for members back on an empty volume that no rebalance since has filled (`refill_after`)."""
    smap = p.status.map
    if smap is None or p.status.transition is not None or p.status.rollout is not None:
        return Outcome()
    current = rebalance_number(smap.rebalance_id)
    empty = sorted(
        n for n, r in p.reports.items() if n in smap.nodes and r.refill_after is not None and r.refill_after >= current
    )
    if not empty:
        return Outcome()
    for node in p.nodes:
        n = name_of(node)
        if n not in empty:
            continue
        held = p.node_statuses[n].objects
        if smap.copies > 1:
            message = f"{n} started on an empty volume: its copies come back from the other holders"
        else:
            about = "an unknown number of" if held is None else f"the {held}"
            message = f"{n} started on an empty volume: with one copy, {about} objects it held are lost"
        events.warn(node, reason="VolumeEmpty", message=message)
    why = f"{', '.join(empty)} refilled after an empty start"
    return await publishing.publish(kube, fleet, p, maps.with_rebalance(smap), rebalance=True, why=why)
