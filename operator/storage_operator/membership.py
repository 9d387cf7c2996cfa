"""The steps of an online cluster's pass: owned objects, the map, rebalance tracking, the one transition.

Each step is a function of the frozen ``Pass`` that does its I/O (Kubernetes through ``kube``, the nodes through
``nodes``) and returns its ``Outcome``; ``reconciling`` folds them. The order of a pass, in the order below:

    owned objects -> [first map (bootstrap)] -> map addresses -> map push -> rebalance tracking -> transition

A new map is recorded in the StorageCluster status (authoritative) before any node is told of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from storage_node.schemas import ClusterMap, NodeEntry

from storage_operator import builders, clock, concurrency, events, lifecycle, maps, metrics, progress, records
from storage_operator.bodies import Body, desired_state, is_deleted, name_of, pod_ready, ready_since, spec_changed_at
from storage_operator.kube import Kube
from storage_operator.lifecycle import Action
from storage_operator.nodes import Fleet
from storage_operator.passes import Outcome, Pace, Pass
from storage_operator.records import Transition
from storage_operator.states import NodeState, RebalanceState

FORMING_GRACE_SECONDS = 30.0  # a new cluster waits at least this long for all its nodes to be ready ...
FORMING_QUIET_SECONDS = 10.0  # ... and longer while nodes keep becoming ready, until none did for this long
JOIN_GRACE_SECONDS = 5.0  # a new node ready to join waits this long for other new nodes still starting
LEAVE_GRACE_SECONDS = 2.0  # a node asked to leave waits, from the request, for others asked with it (one apply)

log = logging.getLogger(__name__)


async def ensure_objects(kube: Kube, p: Pass, pods_wanted: Mapping[str, bool]) -> Outcome:
    """PVCs and services for members; pods created where wanted and deleted where not (nodes concurrently)."""
    paces: list[Pace] = []

    async def one(node: Body) -> None:
        n = name_of(node)
        wanted = pods_wanted[n]
        if n not in p.pvcs and wanted:
            await _create(kube, node, builders.node_pvc(p.cluster, node))
            await _create(kube, node, builders.node_service(p.cluster, node))
        pod = p.pods.get(n)
        if wanted and pod is None:
            if not await _create(kube, node, builders.revised_pod(p.cluster, node)):
                return  # e.g. an affinity the CRD keeps as given: tried again at idle pace
            events.info(node, reason="PodCreated", message=f"created pod {builders.pod_name(n)}")
            paces.append(Pace.HURRY)
        elif not wanted and pod is not None and not is_deleted(pod):
            await kube.delete_pod(p.namespace, builders.pod_name(n))
            events.info(node, reason="PodDeleted", message=f"deleted pod {builders.pod_name(n)}")
            paces.append(Pace.HURRY)
        elif wanted and not pod_ready(pod):
            paces.append(Pace.HURRY)

    await concurrency.bounded(one(node) for node in p.nodes)
    return Outcome(pace=max(paces, default=Pace.IDLE))


async def _create(kube: Kube, node: Body, manifest: Body) -> bool:
    """Create one of the node's objects; one the API server rejects as invalid is a Warning event on the node."""
    rejected = await kube.create(manifest)
    if rejected is not None:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        events.warn(node, reason=f"{kind}Rejected", message=f"the API server rejects {kind} {name}: {rejected}")
    return rejected is None


async def bootstrap(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """The first map: every new node whose pod is ready joins at once, no rebalance (no data yet)."""
    pending = [
        n for n in p.nodes if p.effective(n) is None and desired_state(n) in (NodeState.ONLINE, NodeState.MAINTENANCE)
    ]
    ready = [n for n in pending if name_of(n) in p.reports]
    at = clock.now()
    created = clock.parse(p.cluster["metadata"].get("creationTimestamp")) or at
    # wait for the stragglers while nodes keep coming up; then form with the ready ones (others join later)
    last_ready = max((ready_since(p.pods.get(name_of(n))) or created for n in ready), default=created)
    quiet = clock.seconds_since(last_ready, at) >= FORMING_QUIET_SECONDS
    early = clock.seconds_since(created, at) < FORMING_GRACE_SECONDS
    if not ready or (len(ready) < len(pending) and (early or not quiet)):
        return Outcome(pace=Pace.HURRY)
    entries = []
    for n in ready:
        url = p.url(name_of(n))
        assert url is not None
        entries.append(NodeEntry(id=name_of(n), url=url, flags=list(lifecycle.FLAGS[desired_state(n)] or ())))
    published = await publish(kube, fleet, p, maps.with_nodes(None, entries), rebalance=False, why="cluster formed")
    return published.then(Outcome(reached={name_of(n): desired_state(n) for n in ready}))


async def readdress(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """A new map version when a member's pod came back at another address."""
    assert p.status.map is not None
    moved = maps.with_addresses(p.status.map, p.member_urls())
    if moved is p.status.map:
        return Outcome()
    return await publish(kube, fleet, p, moved, rebalance=False, why="node address changed")


async def publish(kube: Kube, fleet: Fleet, p: Pass, smap: ClusterMap, *, rebalance: bool, why: str) -> Outcome:
    """Record the new map (authoritative, in the API) first, then send it to the nodes."""
    status = p.status.with_map(smap, rebalance=rebalance, why=why, now=clock.iso(clock.now()))
    recorded = Outcome(status=status, held=await record(kube, p, status), pace=Pace.BUSY)
    events.info(
        p.cluster,
        reason="MapPublished",
        message=f"map v{smap.version} ({why})" + (f", rebalance {smap.rebalance_id}" if rebalance else ""),
    )
    return recorded.then(await push(fleet, p.after(recorded)))


async def record(kube: Kube, p: Pass, status: records.ClusterStatus) -> records.Raw:
    """Write the resumable part of `status` (map, rebalances, transition); the status the API holds after."""
    raw = status.to_status()
    patch, after = records.patch(p.held, {k: raw.get(k) for k in records.RECORD_KEYS})
    if patch is not None:
        await kube.patch_cluster_status(p.namespace, p.name, patch)
    return after


async def push(fleet: Fleet, p: Pass) -> Outcome:
    """Send the current map to every member that answers and has another version (retried every pass)."""
    smap = p.status.map
    if smap is None:
        return Outcome()
    stale = {n: u for n, u in p.member_urls().items() if n not in p.reports or p.reports[n].map_version != smap.version}
    if not stale:
        return Outcome()
    failures = await fleet.install_map(stale, smap)
    for n, err in failures.items():
        log.info("map v%s not installed on %s yet: %s", smap.version, n, err)
    reports = await fleet.statuses({n: u for n, u in stale.items() if n not in failures})
    return Outcome(reports=reports, pace=Pace.HURRY if failures else Pace.IDLE)


async def track_rebalance(kube: Kube, fleet: Fleet, p: Pass, pods_wanted: Mapping[str, bool]) -> Outcome:
    """The running rebalance's progress from the nodes' reports: completed, restarted if it failed, or going on.

    It is complete when every member whose pod is meant to run (`pods_wanted`) reports its part done.
    """
    rb = p.status.running
    if rb is None or p.status.map is None:
        return Outcome()
    reports = {n: r.rebalance for n, r in p.reports.items()}
    mark = progress.marker(reports, rb.id)
    at = clock.now()
    rb = replace(rb, totals=records.Totals.from_status(progress.cluster_totals(reports, rb.id)))
    if mark != rb.progress_mark:
        rb = replace(rb, progress_mark=mark, last_progress_at=clock.iso(at))
    required = {n for n in p.status.map.nodes if pods_wanted.get(n, False)}
    if progress.completed(reports, rb.id, required):
        done = replace(rb, state=RebalanceState.COMPLETED, finished_at=clock.iso(at))
        started = clock.parse(rb.started_at) or at
        metrics.REBALANCE_SECONDS.observe(clock.seconds_since(started, at))
        events.info(p.cluster, reason="RebalanceCompleted", message=f"global rebalance {rb.id} completed")
        return Outcome(status=replace(p.status, rebalance=None, last_rebalance=done), pace=Pace.BUSY)
    progressed = Outcome(status=replace(p.status, rebalance=rb), pace=Pace.BUSY)
    bad = progress.failed(reports, rb.id)
    if not bad:
        return progressed
    events.warn(p.cluster, reason="RebalanceRestarted", message=f"rebalance {rb.id} ended badly on {', '.join(bad)}")
    q = p.after(progressed)
    assert q.status.map is not None
    why = f"restart of {rb.id}"
    restarted = await publish(kube, fleet, q, maps.with_rebalance(q.status.map), rebalance=True, why=why)
    return progressed.then(restarted)


async def advance(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """Carry out the steps of the one transition in progress, as far as they complete in this pass."""
    done = Outcome()
    for _ in range(6 + len(p.nodes)):  # bounded: a pass carries out at most a few steps per node
        node = _pick(p)
        if node is None:
            if p.status.transition is not None:
                done = done.then(Outcome(status=replace(p.status, transition=None)))
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
    held = p.held_back()
    t = p.status.transition
    current = next((n for n in p.nodes if t is not None and name_of(n) == t.node), None)
    if (
        current is not None
        and name_of(current) not in held
        and lifecycle.next_step(p.view(current)).action is not Action.NOTHING
    ):
        return current
    pending = [
        n for n in p.nodes if name_of(n) not in held and lifecycle.next_step(p.view(n)).action is not Action.NOTHING
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
        started_at=clock.iso(clock.now()),
        source=view.effective,
        cleaned=t is not None and t.node == n and t.cleaned,
    )
    events.info(node, reason="TransitionStarted", message=new.operation)
    return Outcome(status=replace(p.status, transition=new))


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
        rm = bool(node.get("spec", {}).get("rmUserData"))
        url = p.url(n)
        try:
            assert url is not None
            await fleet.cleanup(url, rm_user_data=rm)
        except Exception as err:
            if not view.force_remove:
                events.warn(node, reason="CleanupFailed", message=str(err))
                return Outcome(), False
        events.info(node, reason="CleanedUp", message="user data removed" if rm else "node metadata removed")
        return Outcome(status=replace(p.status, transition=replace(t, cleaned=True))), True
    if step.action is Action.REMOVE_FROM_MAP:
        why = f"{n} removed" + (" (forced, no rebalance)" if view.force_remove else "")
        return await publish(kube, fleet, p, maps.without_node(smap, n), rebalance=False, why=why), True
    if step.action is Action.FINISH:
        if view.desired is NodeState.DECOMMISSIONED:
            claim = builders.pvc_name(n)
            if node.get("spec", {}).get("rmUserData"):
                await kube.delete_pvc(p.namespace, claim)
            else:
                await kube.orphan_pvc(p.namespace, claim)
        metrics.TRANSITIONS.labels(operation=t.operation).inc()
        events.info(node, reason="TransitionCompleted", message=f"node is {view.desired.value}")
        return Outcome(status=replace(p.status, transition=None), reached={n: view.desired}), True
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
    at = clock.now()
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
    return await publish(kube, fleet, p, new_map, rebalance=step.rebalance, why=why), not step.rebalance
