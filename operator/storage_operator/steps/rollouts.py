"""The rolling-upgrade step of a pass: carry out ``plan.rollouts.decide``'s acts for the node being rolled.

A node is recorded in ``status.rollout`` (written before anything is done to it) and cleared when its new pod
answers (and, with ``drain``, its data is back); the pod itself is re-created by ``resources.ensure_objects``,
which builds every pod at the spec's revision. Map changes go through ``publishing.publish``, so the map is
recorded in the API before the nodes hear of it, as for any membership change.
"""

from __future__ import annotations

from storage_node.schemas import NodeEntry

from storage_operator.clients import events
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model import clock, maps
from storage_operator.model.bodies import Body
from storage_operator.model.states import UpgradeStrategy
from storage_operator.model.statuses import Rollout
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.plan.rollouts import OUT, Act
from storage_operator.resources import pods
from storage_operator.steps import publishing

STEPS_PER_PASS = 4  # start -> leave, or finish -> start: a pass goes on while a step completes at once


async def roll(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """Carry the rolling upgrade as far as it goes in this pass; its outcome."""
    done = Outcome()
    for _ in range(STEPS_PER_PASS):
        outcome, go_on = await _act(kube, fleet, p)
        done, p = done.then(outcome), p.after(outcome)
        if not go_on:
            break
    return done


async def _recorded(
    kube: Kube, p: Pass, record: Rollout | None, node: Body | None, reason: str, message: str
) -> Outcome:
    """Record the rollout (None: it is over) in the status, and tell the node's events why."""
    status = p.status.model_copy(update={"rollout": record})
    api_status = await publishing.record(kube, p, status)
    if node is not None:
        events.info(node, reason=reason, message=message)
    return Outcome(status=status, api_status=api_status, pace=Pace.HURRY)


async def _act(kube: Kube, fleet: Fleet, p: Pass) -> tuple[Outcome, bool]:
    """One act of the rollout; its outcome and whether the next act may follow in this pass."""
    d = p.rollout_decision()
    node = next((x for x in p.nodes if x["metadata"]["name"] == d.node), None)
    if d.act is Act.START:
        assert d.node is not None and d.strategy is not None
        record = Rollout(node=d.node, strategy=d.strategy, started_at=clock.iso(p.clock.now()))
        message = f"to revision {p.target_revision} ({d.strategy.value})"
        return await _recorded(kube, p, record, node, "UpgradeStarted", message), True
    if d.act is Act.LEAVE or d.act is Act.RETURN:
        return await _move(kube, fleet, p, d.node, leave=d.act is Act.LEAVE), False
    if d.act is Act.DELETE_POD:
        assert d.node is not None
        await kube.delete_pod(p.namespace, pods.pod_name(d.node))
        if node is not None:
            events.info(node, reason="PodDeleted", message=f"re-created at revision {p.target_revision}")
        return Outcome(pace=Pace.HURRY), False
    if d.act is Act.FINISH:
        assert d.node is not None
        message = f"pod at revision {p.target_revision}"
        finished = await _recorded(kube, p, None, node, "UpgradeCompleted", message)
        smap, rolled = p.status.map, p.status.rollout
        if smap is None or smap.copies == 1 or rolled is None or rolled.strategy is not UpgradeStrategy.RESTART:
            return finished, True
        # K copies: writes made while it restarted put its copies on the next nodes of their ranking; a
        # rebalance puts them on their holders (and a copy it missed onto it)
        why = f"{d.node} restarted: copies written meanwhile go to their holders"
        tidy = maps.with_rebalance(smap)
        republished = await publishing.publish(kube, fleet, p.after(finished), tidy, rebalance=True, why=why)
        return finished.then(republished), False
    if d.act is Act.AWAIT_POD or d.act is Act.GRACE:
        return Outcome(pace=Pace.HURRY), False
    if d.act is Act.AWAIT_REBALANCE:
        return Outcome(pace=Pace.BUSY), False
    return Outcome(), False  # NONE, WAIT, PAUSED, STUCK: nothing to do until something changes


async def _move(kube: Kube, fleet: Fleet, p: Pass, node: str | None, *, leave: bool) -> Outcome:
    """The drained node out of placement (`leave`) or back in, in a new map version with a rebalance."""
    smap = p.status.map
    assert node is not None and smap is not None
    url = p.url(node) or (smap.nodes[node].url if node in smap.nodes else None)
    if url is None:
        return Outcome(pace=Pace.HURRY)
    flags = list(OUT) if leave else []
    why = f"{node}: rolling upgrade, " + ("data moves off" if leave else "data moves back")
    new_map = maps.with_nodes(smap, [NodeEntry(id=node, url=url, flags=flags)], rebalance=True)
    return await publishing.publish(kube, fleet, p, new_map, rebalance=True, why=why)
