"""The StorageCluster reconcile: one idempotent pass — observe, carry out one membership change, report.

Flow of a pass (``reconcile``):
    observe (API objects, node reports) -> cluster-wide state (shutdown/decommission)
        -> owned objects (secret, PVCs, services, pods) -> map (bootstrap, addresses, push)
        -> rebalance tracking -> the one transition in progress (lifecycle.next_step) -> statuses

Everything the pass needs to resume lives in the API: the map, the running rebalance and the transition in
the StorageCluster's status, effective states in the StorageNodes' statuses. No in-memory-only progress.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import secrets
from collections.abc import Callable
from typing import Any

from storage_node.schemas import ClusterMap, NodeEntry, SettingsUpdate, rebalance_settled

from storage_operator import builders, clusterwide, lifecycle, maps, metrics, passes, progress, reporting, watching
from storage_operator.kube import Body, Kube
from storage_operator.lifecycle import Action
from storage_operator.nodes import Fleet
from storage_operator.passes import Pass, desired_state, effective_state, name_of, pod_ready
from storage_operator.states import ClusterState, NodeState, RebalanceState

FINALIZER = "ferry.dev/finalizer"
ACTIVE_DELAY = 0.25  # between passes while something is in progress (pods starting, maps to retry)
REBALANCE_DELAY = 1.0  # while only a rebalance runs: progress is reported this often, its end is pushed (watching)
IDLE_DELAY = 5.0
STALL_SECONDS = float(os.environ.get("FERRY_STALL_SECONDS", "60"))  # no progress for this long: Degraded
FORMING_GRACE_SECONDS = 30.0  # a new cluster waits at least this long for all its nodes to be ready ...
FORMING_QUIET_SECONDS = 10.0  # ... and longer while nodes keep becoming ready, until none did for this long
JOIN_GRACE_SECONDS = 5.0  # a new node ready to join waits this long for other new nodes still starting

log = logging.getLogger(__name__)


class Reconciler:
    """Carries out StorageCluster passes with the two narrow clients."""

    def __init__(self, kube: Kube, wake: Callable[[], None]) -> None:
        self.kube = kube
        self._pushed: dict[tuple[str, str], tuple[str, int, Any]] = {}  # node -> settings key last pushed
        self._fleet: Fleet | None = None  # kept across passes: keep-alive connections to the nodes
        self._watch = watching.SettleWatch(wake)

    async def close(self) -> None:
        """Stop the long polls and close the connections to the nodes."""
        self._watch.stop()
        if self._fleet is not None:
            await self._fleet.close()
            self._fleet = None

    async def _fleet_for(self, key: str | None) -> Fleet:
        if self._fleet is None or not self._fleet.fresh_for(key):
            await self.close()
            self._fleet = Fleet(key)
        return self._fleet

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """One pass for the StorageCluster `namespace/name`; the delay before the next one (None: it is gone)."""
        cluster = await self.kube.get_cluster(namespace, name)
        if cluster is None:
            return None
        if cluster["metadata"].get("deletionTimestamp"):
            await clusterwide.release(self.kube, cluster)
            await clusterwide.release_finalizers(self.kube, cluster, FINALIZER)
            return IDLE_DELAY
        status = copy.deepcopy(cluster.get("status") or {})  # the pass changes its copy; the report compares
        nodes, pods, pvcs, key = await asyncio.gather(
            self.kube.list_nodes(namespace, name),
            self.kube.list_pods(namespace, name),
            self.kube.list_pvcs(namespace, name),
            self._auth_key(cluster),
        )
        p = Pass(
            cluster=cluster,
            nodes=nodes,
            pods=pods,
            pvcs=pvcs,
            smap=maps.from_status(status.get("map")),
            rebalance=status.get("rebalance"),
            last_rebalance=status.get("lastRebalance"),
            transition=dict(status.get("transition") or {}),
        )
        fleet = await self._fleet_for(key)
        state = ClusterState(p.spec.get("state", ClusterState.ONLINE))
        if state is ClusterState.DECOMMISSIONED:
            await clusterwide.decommission(self.kube, p, fleet)
        elif state is ClusterState.SHUTDOWN:
            await clusterwide.shutdown(self.kube, p)
        else:
            await self._online_pass(p, fleet)
        followed = self._follow_rebalance(p, fleet)
        if p.hurry or (p.active and not followed):
            return ACTIVE_DELAY
        return REBALANCE_DELAY if followed else IDLE_DELAY

    def _follow_rebalance(self, p: Pass, fleet: Fleet) -> bool:
        """Long-poll the members whose part of the running rebalance is not over yet; False if there are none."""
        rb = p.rebalance
        if rb is None or rb.get("state") != RebalanceState.RUNNING or p.smap is None:
            self._watch.stop()
            return False
        rid = str(rb["id"])
        urls = {
            n: u
            for n in p.smap.nodes
            if (u := p.url(n)) and not (n in p.reports and rebalance_settled(p.reports[n].rebalance, rid))
        }
        self._watch.follow(fleet, rid, urls)
        return bool(urls)

    # -- secrets and owned objects -------------------------------------------------------------------

    async def _auth_key(self, cluster: Body) -> str | None:
        """The key the node tokens are signed with, from the cluster's Secret (created when missing)."""
        if not (cluster.get("spec") or {}).get("auth", {}).get("enabled", True):
            return None
        namespace = str(cluster["metadata"]["namespace"])
        secret_name = builders.auth_secret_name(cluster)
        key = await self.kube.secret_value(namespace, secret_name, builders.AUTH_KEY)
        if key is None:
            await self.kube.create(builders.auth_secret(cluster, secrets.token_hex(32)))
            reporting.event_info(cluster, reason="AuthSecretCreated", message=f"created Secret {secret_name}")
            key = await self.kube.secret_value(namespace, secret_name, builders.AUTH_KEY)
        return key

    async def _ensure_objects(self, p: Pass, wanted: dict[str, bool]) -> None:
        """PVCs and services for members; pods created where wanted and deleted where not (nodes concurrently)."""

        async def one(node: Body) -> None:
            n = name_of(node)
            if n not in p.pvcs and wanted[n]:
                await self.kube.create(builders.node_pvc(p.cluster, node))
                await self.kube.create(builders.node_service(p.cluster, node))
            pod = p.pods.get(n)
            if wanted[n] and pod is None:
                await self.kube.create(builders.node_pod(p.cluster, node))
                reporting.event_info(node, reason="PodCreated", message=f"created pod {builders.pod_name(n)}")
                p.active = p.hurry = True
            elif not wanted[n] and pod is not None and not pod["metadata"].get("deletionTimestamp"):
                await self.kube.delete_pod(p.namespace, builders.pod_name(n))
                reporting.event_info(node, reason="PodDeleted", message=f"deleted pod {builders.pod_name(n)}")
                p.active = p.hurry = True
            elif wanted[n] and not pod_ready(pod):
                p.active = p.hurry = True

        await reporting.bounded(one(node) for node in p.nodes)

    # -- the map ------------------------------------------------------------------------------------

    async def _observe(self, p: Pass, fleet: Fleet) -> None:
        urls = {n: u for n in p.pods if (u := p.url(n))}
        p.reports = await fleet.statuses(urls)

    async def _publish(self, p: Pass, smap: ClusterMap, fleet: Fleet, *, rebalance: bool, why: str) -> None:
        """Record the new map (authoritative, in the API) first, then send it to the nodes."""
        if rebalance:
            if p.rebalance and p.rebalance.get("state") == RebalanceState.RUNNING:
                p.last_rebalance = {**p.rebalance, "state": RebalanceState.SUPERSEDED.value}
            now = passes.iso(passes.now())
            p.rebalance = {
                "id": smap.rebalance_id,
                "state": RebalanceState.RUNNING.value,
                "mapVersion": smap.version,
                "startedAt": now,
                "lastProgressAt": now,
                "progressMark": 0,
                "reason": why,
            }
        p.smap = smap
        await reporting.write_cluster(self.kube, p, extra={})
        reporting.event_info(
            p.cluster,
            reason="MapPublished",
            message=f"map v{smap.version} ({why})" + (f", rebalance {smap.rebalance_id}" if rebalance else ""),
        )
        await self._push(p, fleet)
        p.active = True

    async def _push(self, p: Pass, fleet: Fleet) -> None:
        """Send the current map to every member that answers and has another version (retried every pass)."""
        if p.smap is None:
            return
        stale = {
            n: u
            for n in p.smap.nodes
            if (u := p.url(n)) and (n not in p.reports or p.reports[n].map_version != p.smap.version)
        }
        if stale:
            failures = await fleet.install_map(stale, p.smap)
            for n, err in failures.items():
                log.info("map v%s not installed on %s yet: %s", p.smap.version, n, err)
            p.hurry = p.hurry or bool(failures)
            p.reports = {**p.reports, **await fleet.statuses({n: u for n, u in stale.items() if n not in failures})}

    async def _bootstrap(self, p: Pass, fleet: Fleet) -> None:
        """The first map: every new node whose pod is ready joins at once, no rebalance (no data yet)."""
        pending = [
            n
            for n in p.nodes
            if effective_state(n) is None and desired_state(n) in (NodeState.ONLINE, NodeState.MAINTENANCE)
        ]
        ready = [n for n in pending if name_of(n) in p.reports]
        created = passes.parse_time(p.cluster["metadata"].get("creationTimestamp")) or passes.now()
        waited = (passes.now() - created).total_seconds()
        # wait for the stragglers while nodes keep coming up; then form with the ready ones (others join later)
        last_ready = max((passes.ready_since(p.pods.get(name_of(n))) or created for n in ready), default=created)
        quiet = (passes.now() - last_ready).total_seconds() >= FORMING_QUIET_SECONDS
        if not ready or (len(ready) < len(pending) and (waited < FORMING_GRACE_SECONDS or not quiet)):
            p.active = p.hurry = True
            return
        entries = []
        for n in ready:
            url = p.url(name_of(n))
            flags = lifecycle.FLAGS[desired_state(n)] or ()
            assert url is not None
            entries.append(NodeEntry(id=name_of(n), url=url, flags=list(flags)))
        await self._publish(p, maps.with_nodes(None, entries), fleet, rebalance=False, why="cluster formed")
        for n in ready:
            reporting.set_effective(p, n, desired_state(n))

    # -- rebalance tracking -------------------------------------------------------------------------

    def _required(self, p: Pass, wanted: dict[str, bool]) -> set[str]:
        """Members whose part of the rebalance must complete: every member whose pod is meant to run."""
        assert p.smap is not None
        return {n for n in p.smap.nodes if wanted.get(n, False)}

    async def _track_rebalance(self, p: Pass, fleet: Fleet, wanted: dict[str, bool]) -> None:
        rb = p.rebalance
        if rb is None or rb.get("state") != RebalanceState.RUNNING or p.smap is None:
            return
        p.active = True
        rid = str(rb["id"])
        reports = {n: r.rebalance for n, r in p.reports.items()}
        rb.update(progress.cluster_totals(reports, rid))
        mark = progress.marker(reports, rid)
        now = passes.now()
        if mark != rb.get("progressMark"):
            rb["progressMark"] = mark
            rb["lastProgressAt"] = passes.iso(now)
        if progress.completed(reports, rid, self._required(p, wanted)):
            rb["state"] = RebalanceState.COMPLETED.value
            rb["finishedAt"] = passes.iso(now)
            started = passes.parse_time(rb.get("startedAt")) or now
            metrics.REBALANCE_SECONDS.observe((now - started).total_seconds())
            reporting.event_info(p.cluster, reason="RebalanceCompleted", message=f"global rebalance {rid} completed")
            p.last_rebalance, p.rebalance = dict(rb), None
            return
        bad = progress.failed(reports, rid)
        if bad:
            reporting.event_warn(
                p.cluster, reason="RebalanceRestarted", message=f"rebalance {rid} ended badly on {', '.join(bad)}"
            )
            await self._publish(p, maps.with_rebalance(p.smap), fleet, rebalance=True, why=f"restart of {rid}")

    # -- the online pass ----------------------------------------------------------------------------

    def _pick(self, p: Pass) -> Body | None:
        """The node whose membership change is carried out now: the one in progress, else the oldest request."""
        by_name = {name_of(n): n for n in p.nodes}
        current = by_name.get(p.transition.get("node", ""))
        if current is not None and lifecycle.next_step(p.view(current)).action is not Action.NOTHING:
            return current
        pending = [n for n in p.nodes if lifecycle.next_step(p.view(n)).action is not Action.NOTHING]
        if not pending:
            return None
        pending.sort(key=lambda n: (n.get("status", {}).get("pendingSince") or "~", name_of(n)))
        return pending[0]

    async def _online_pass(self, p: Pass, fleet: Fleet) -> None:
        wanted = {name_of(n): p.pod_wanted(n) for n in p.nodes}
        await self._ensure_objects(p, wanted)
        await self._observe(p, fleet)
        if p.smap is None:
            await self._bootstrap(p, fleet)
        else:
            urls = {n: u for n in p.smap.nodes if (u := p.url(n))}
            moved = maps.with_addresses(p.smap, urls)
            if moved is not p.smap:
                await self._publish(p, moved, fleet, rebalance=False, why="node address changed")
            await self._push(p, fleet)
            await self._settings(p, fleet)
            await self._track_rebalance(p, fleet, wanted)
            tracked = (p.rebalance or {}).get("id")
            if p.smap is not None:
                await self._advance(p, fleet)
            if p.rebalance is not None and p.rebalance.get("id") != tracked and not p.rebalance_settled():
                # a rebalance started in this pass with little or nothing to move may already be over (the
                # nodes' statuses were read after the map push): finish its transition now
                await self._track_rebalance(p, fleet, wanted)
                if p.rebalance_settled():
                    await self._advance(p, fleet)
        await reporting.report(self.kube, p, stall_seconds=STALL_SECONDS)

    async def _settings(self, p: Pass, fleet: Fleet) -> None:
        """Push the rebalance throttle to each node process that has not got this spec's value yet.

        Nodes do not persist settings (a restarted process starts from its pod's arguments), so the key is
        (pod uid, restart count, cluster generation); the cache only saves calls: a push is idempotent.
        """
        gen = p.cluster["metadata"].get("generation")
        rb = p.spec.get("rebalance", {})
        update = SettingsUpdate(
            rebalance_concurrency=int(rb.get("concurrency", 4)), rebalance_bandwidth=int(rb.get("bandwidth", 0))
        )
        due: dict[str, tuple[str, int, Any]] = {}
        for n in p.reports:
            pod = p.pods[n]
            restarts = sum(
                int(c.get("restartCount", 0)) for c in (pod.get("status") or {}).get("containerStatuses") or []
            )
            key = (str(pod["metadata"]["uid"]), restarts, gen)
            if self._pushed.get((p.namespace, n)) != key:
                due[n] = key
        urls = {n: u for n in due if (u := p.url(n))}
        if not urls:
            return
        failures = await fleet.update_settings(urls, update)
        for n in urls:
            if n not in failures:
                self._pushed[(p.namespace, n)] = due[n]

    async def _advance(self, p: Pass, fleet: Fleet) -> None:
        """Carry out the steps of the one transition in progress, as far as they complete in this pass."""
        for _ in range(6 + len(p.nodes)):  # bounded: a pass carries out at most a few steps per node
            node = self._pick(p)
            if node is None:
                if p.transition:
                    p.transition = {}
                return
            n = name_of(node)
            view = p.view(node)
            if p.transition.get("node") != n or p.transition.get("to") != view.desired.value:
                keep_cleaned = p.transition.get("node") == n and p.transition.get("cleaned")
                p.transition = {
                    "node": n,
                    "from": view.effective.value if view.effective else None,
                    "to": view.desired.value,
                    "operation": lifecycle.operation(view.effective, view.desired),
                    "startedAt": passes.iso(passes.now()),
                    "cleaned": bool(keep_cleaned),
                }
                reporting.event_info(node, reason="TransitionStarted", message=p.transition["operation"])
            step = lifecycle.next_step(view)
            p.active = True
            # a rebalance that runs (or is started now) announces its end itself: no need to hurry for it
            rebalance_only = step.action is Action.AWAIT_REBALANCE or (step.action is Action.PUBLISH and step.rebalance)
            p.hurry = p.hurry or not rebalance_only
            if not await self._apply(p, fleet, node, view, step):
                return

    async def _apply(self, p: Pass, fleet: Fleet, node: Body, view: lifecycle.NodeView, step: lifecycle.Step) -> bool:
        """Apply one step; True when the next step may follow in the same pass."""
        n = name_of(node)
        assert p.smap is not None
        if step.action is Action.START_POD or step.action is Action.AWAIT_REBALANCE:
            return False
        if step.action is Action.PUBLISH:
            url = p.url(n) or (p.smap.nodes[n].url if n in p.smap.nodes else None)
            if url is None:
                return False
            entries = [NodeEntry(id=n, url=url, flags=list(step.flags))]
            if view.effective is None:
                fellows, starting = p.fellow_joiners(n, step)
                head_ready = passes.ready_since(p.pods.get(n)) or passes.now()
                if starting and (passes.now() - head_ready).total_seconds() < JOIN_GRACE_SECONDS:
                    p.hurry = True  # other new nodes are starting: they will join in the same map version
                    return False
                entries += fellows
            why = f"{n}: {p.transition['operation']}"
            if len(entries) > 1:
                why = f"{len(entries)} new nodes join together ({n}, {entries[1].id}, ...)"
            await self._publish(
                p, maps.with_nodes(p.smap, entries, rebalance=step.rebalance), fleet, rebalance=step.rebalance, why=why
            )
            return not step.rebalance
        if step.action is Action.CLEANUP:
            rm = bool(node.get("spec", {}).get("rmUserData"))
            url = p.url(n)
            try:
                assert url is not None
                await fleet.cleanup(url, rm_user_data=rm)
            except Exception as err:
                if not view.force_remove:
                    reporting.event_warn(node, reason="CleanupFailed", message=str(err))
                    return False
            p.transition["cleaned"] = True
            reporting.event_info(
                node, reason="CleanedUp", message="user data removed" if rm else "node metadata removed"
            )
            return True
        if step.action is Action.REMOVE_FROM_MAP:
            why = f"{n} removed" + (" (forced, no rebalance)" if view.force_remove else "")
            await self._publish(p, maps.without_node(p.smap, n), fleet, rebalance=False, why=why)
            return True
        if step.action is Action.FINISH:
            if view.desired is NodeState.DECOMMISSIONED:
                claim = builders.pvc_name(n)
                if node.get("spec", {}).get("rmUserData"):
                    await self.kube.delete_pvc(p.namespace, claim)
                else:
                    await self.kube.orphan_pvc(p.namespace, claim)
            metrics.TRANSITIONS.labels(operation=p.transition.get("operation", "")).inc()
            reporting.event_info(node, reason="TransitionCompleted", message=f"node is {view.desired.value}")
            reporting.set_effective(p, node, view.desired)
            p.transition = {}
            return True
        return False
