"""The map steps of a pass: the first map, a new version when a member moved, the map pushed to the nodes.

A new map is recorded in the StorageCluster status (authoritative, ``record``) before any node is told of it
(``push``); ``publish`` does both, in that order, for every step that changes the map (``model.maps`` builds it).
"""

from __future__ import annotations

import logging

from storage_node.schemas import ClusterMap, NodeEntry

from storage_operator.clients import events
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model import clock, maps, statuses
from storage_operator.model.bodies import name_of, ready_since
from storage_operator.model.states import NodeState
from storage_operator.plan import lifecycle
from storage_operator.plan.passes import Outcome, Pace, Pass

FORMING_GRACE_SECONDS = 30.0  # a new cluster waits at least this long for all its nodes to be ready ...
FORMING_QUIET_SECONDS = 10.0  # ... and longer while nodes keep becoming ready, until none did for this long
log = logging.getLogger(__name__)


async def bootstrap(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """The first map: every new node whose pod is ready joins at once, no rebalance (no data yet)."""
    pending = [
        n for n in p.nodes if p.effective(n) is None and p.desired(n) in (NodeState.ONLINE, NodeState.MAINTENANCE)
    ]
    ready = [n for n in pending if name_of(n) in p.reports]
    at = p.clock.now()
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
        entries.append(NodeEntry(id=name_of(n), url=url, flags=list(lifecycle.FLAGS[p.desired(n)] or ())))
    first = maps.with_nodes(None, entries, copies=p.spec.redundancy.copies)
    published = await publish(kube, fleet, p, first, rebalance=False, why="cluster formed")
    return published.then(Outcome(reached={name_of(n): p.desired(n) for n in ready}))


async def readdress(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """A new map version when a member's pod came back at another address."""
    assert p.status.map is not None
    moved = maps.with_addresses(p.status.map, p.member_urls())
    if moved is p.status.map:
        return Outcome()
    return await publish(kube, fleet, p, moved, rebalance=False, why="node address changed")


async def recopy(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """A new map version with a rebalance when `spec.redundancy.copies` changed (it adds or removes copies)."""
    smap, copies = p.status.map, p.spec.redundancy.copies
    if smap is None or smap.copies == copies:
        return Outcome()
    why = f"copies {smap.copies} -> {copies}"
    return await publish(kube, fleet, p, maps.with_copies(smap, copies), rebalance=True, why=why)


async def publish(kube: Kube, fleet: Fleet, p: Pass, smap: ClusterMap, *, rebalance: bool, why: str) -> Outcome:
    """Record the new map (authoritative, in the API) first, then send it to the nodes."""
    # a node entering the map is dated: one that starts on an empty volume later knows it held data
    at = round(p.clock.now().timestamp(), 3)
    nodes = {k: e if e.since is not None else e.model_copy(update={"since": at}) for k, e in smap.nodes.items()}
    smap = smap.model_copy(update={"nodes": nodes})
    status = p.status.with_map(smap, rebalance=rebalance, why=why, now=clock.iso(p.clock.now()))
    recorded = Outcome(status=status, api_status=await record(kube, p, status), pace=Pace.BUSY)
    events.info(
        p.cluster,
        reason="MapPublished",
        message=f"map v{smap.version} ({why})" + (f", rebalance {smap.rebalance_id}" if rebalance else ""),
    )
    return recorded.then(await push(fleet, p.after(recorded)))


async def record(kube: Kube, p: Pass, status: statuses.ClusterStatus) -> statuses.Raw:
    """Write the resumable part of `status` (map, rebalances, transition); the status the API holds after."""
    raw = status.to_status()
    patch, after = statuses.patch(p.api_status, {k: raw.get(k) for k in statuses.RECORD_KEYS})
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
