"""The lifecycle step of a pass: carry out the one membership change in progress, as far as it goes in this pass.

``plan.lifecycle`` decides the next step of a node (pure); this module applies it: a new map entry (with the
other nodes joining or leaving the same way), the node's cleanup, its removal from the map, the end of its
transition. The node whose turn it is is the one in progress, else the oldest request (``_pick``); a node whose
departure does not fit on the nodes that stay is held back (``plan.capacity``).
"""

from __future__ import annotations

from storage_node.schemas import NodeEntry

from storage_operator.clients import events, metrics
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model import clock, maps
from storage_operator.model.bodies import Body, name_of, ready_since, spec_changed_at
from storage_operator.model.states import NodeState
from storage_operator.model.statuses import Transition
from storage_operator.plan import lifecycle
from storage_operator.plan.lifecycle import Action
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.resources import claims
from storage_operator.steps import publishing

JOIN_GRACE_SECONDS = 5.0  # a new node ready to join waits this long for other new nodes still starting
LEAVE_GRACE_SECONDS = 2.0  # a node asked to leave waits, from the request, for others asked with it (one apply)


async def advance(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """Carry out the steps of the one transition in progress, as far as they complete in this pass."""
    done = Outcome()
    for _ in range(6 + len(p.nodes)):  # bounded: a pass carries out at most a few steps per node
        node = _pick(p)
        if node is None:
            if p.status.transition is not None:
                done = done.then(Outcome(status=p.status.model_copy(update={"transition": None})))
            return done
        started = _start_transition(p, node)
        p = p.after(started)
        view = p.view(node)
        step = lifecycle.next_step(view)
        # a rebalance that runs (or is started now) announces its end itself: no need to hurry for it
        rebalance_only = step.action is Action.AWAIT_REBALANCE or (step.action is Action.PUBLISH and step.rebalance)
        applied, go_on = await apply(kube, fleet, p, node, view, step)
        outcome = started.then(Outcome(pace=Pace.BUSY if rebalance_only else Pace.HURRY)).then(applied)
        done, p = done.then(outcome), p.after(applied)
        if not go_on:
            return done
    return done


def _pick(p: Pass) -> Body | None:
    """The node whose membership change is carried out now: the one in progress, else the oldest request.

    Nodes asked to leave whose data would not fit on the nodes that stay are held back (`capacity`): the
    others go on meanwhile (a node that joins makes room).
    """
    waiting = p.short_of_room()
    t = p.status.transition
    current = next((n for n in p.nodes if t is not None and name_of(n) == t.node), None)
    if (
        current is not None
        and name_of(current) not in waiting
        and lifecycle.next_step(p.view(current)).action is not Action.NOTHING
    ):
        return current
    pending = [
        n for n in p.nodes if name_of(n) not in waiting and lifecycle.next_step(p.view(n)).action is not Action.NOTHING
    ]
    if not pending:
        return None
    pending.sort(key=lambda n: (p.node_statuses[name_of(n)].pending_since or "~", name_of(n)))
    return pending[0]


def _start_transition(p: Pass, node: Body) -> Outcome:
    """The transition record for `node`'s change, unless it is the one in progress already."""
    n, view, t = name_of(node), p.view(node), p.status.transition
    if t is not None and t.node == n and t.to is view.desired:
        return Outcome()
    new = Transition(
        node=n,
        to=view.desired,
        operation=lifecycle.operation(view.effective, view.desired),
        started_at=clock.iso(p.clock.now()),
        source=view.effective,
        cleaned=t is not None and t.node == n and t.cleaned,
    )
    events.info(node, reason="TransitionStarted", message=new.operation)
    return Outcome(status=p.status.model_copy(update={"transition": new}))


async def apply(
    kube: Kube, fleet: Fleet, p: Pass, node: Body, view: lifecycle.NodeView, step: lifecycle.Step
) -> tuple[Outcome, bool]:
    """Apply one step of `node`'s transition; its outcome, and whether the next step may follow in this pass."""
    n = name_of(node)
    t, smap = p.status.transition, p.status.map
    assert t is not None and smap is not None
    if step.action is Action.PUBLISH:
        return await _publish_step(kube, fleet, p, node, view, step)
    if step.action is Action.CLEANUP:
        rm = p.node_specs[n].rm_user_data
        url = p.url(n)
        try:
            assert url is not None
            await fleet.cleanup(url, rm_user_data=rm)
        except Exception as err:
            if not view.force_remove:
                events.warn(node, reason="CleanupFailed", message=str(err))
                return Outcome(), False
        events.info(node, reason="CleanedUp", message="user data removed" if rm else "node metadata removed")
        return Outcome(status=p.status.model_copy(update={"transition": t.model_copy(update={"cleaned": True})})), True
    if step.action is Action.REMOVE_FROM_MAP:
        # forced, with K copies: the others hold the node's objects, and a rebalance re-creates its copies on them
        rebuild = view.force_remove and smap.copies > 1 and view.rebalance_enabled and not view.skip_rebalance
        why = f"{n} removed" + (
            " (forced, its copies re-created)" if rebuild else " (forced, no rebalance)" if view.force_remove else ""
        )
        smaller = maps.without_node(smap, n, rebalance=rebuild)
        return await publishing.publish(kube, fleet, p, smaller, rebalance=rebuild, why=why), True
    if step.action is Action.FINISH:
        if view.desired is NodeState.DECOMMISSIONED:
            claim = claims.pvc_name(n)
            if p.node_specs[n].rm_user_data:
                await kube.delete_pvc(p.namespace, claim)
            else:
                await kube.orphan_pvc(p.namespace, claim)
        metrics.TRANSITIONS.labels(operation=t.operation).inc()
        events.info(node, reason="TransitionCompleted", message=f"node is {view.desired.value}")
        return Outcome(status=p.status.model_copy(update={"transition": None}), reached={n: view.desired}), True
    return Outcome(), False  # START_POD, AWAIT_REBALANCE: the pod or the rebalance is on its way


async def _publish_step(
    kube: Kube, fleet: Fleet, p: Pass, node: Body, view: lifecycle.NodeView, step: lifecycle.Step
) -> tuple[Outcome, bool]:
    """The node's new map entry; a new node takes the other new nodes ready to join the same way along."""
    n = name_of(node)
    t, smap = p.status.transition, p.status.map
    assert t is not None and smap is not None
    url = p.url(n) or (smap.nodes[n].url if n in smap.nodes else None)
    if url is None:
        return Outcome(), False
    entries = [NodeEntry(id=n, url=url, flags=list(step.flags))]
    at = p.clock.now()
    if view.effective is None:
        fellows, starting = p.fellow_joiners(n, step)
        if starting and clock.seconds_since(ready_since(p.pods.get(n)) or at, at) < JOIN_GRACE_SECONDS:
            return Outcome(pace=Pace.HURRY), False  # other new nodes are starting: they join in the same map version
        entries += fellows
    elif p.leaving(node):
        asked = spec_changed_at(node)
        if asked is not None and clock.seconds_since(asked, at) < LEAVE_GRACE_SECONDS:
            return Outcome(pace=Pace.HURRY), False  # others asked to leave with it leave in the same map version
        entries += [
            NodeEntry(id=name_of(f), url=smap.nodes[name_of(f)].url, flags=list(lifecycle.next_step(p.view(f)).flags))
            for f in p.fellow_leavers(n)
        ]
    why = f"{n}: {t.operation}"
    if len(entries) > 1:
        together = "new nodes join" if view.effective is None else "nodes leave"
        why = f"{len(entries)} {together} together ({', '.join(e.id for e in entries)})"
    new_map = maps.with_nodes(smap, entries, rebalance=step.rebalance)
    return await publishing.publish(kube, fleet, p, new_map, rebalance=step.rebalance, why=why), not step.rebalance
