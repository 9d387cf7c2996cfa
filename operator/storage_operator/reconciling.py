"""The StorageCluster reconcile: one idempotent pass — observe, carry out one membership change, report.

Flow of a pass (``reconcile``):
    observe (API objects, node reports) -> cluster-wide state (shutdown/decommission)
        -> owned objects (secret, PVCs, services, pods) -> map (bootstrap, addresses, push)
        -> rebalance tracking -> the one transition in progress (lifecycle.next_step) -> statuses

Everything the pass needs to resume lives in the API: the map, the running rebalance and the transition in
the StorageCluster's status, effective states in the StorageNodes' statuses. No in-memory-only progress.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from storage_node.schemas import ClusterMap, NodeEntry, NodeStatus, SettingsUpdate

from storage_operator import builders, conditions, lifecycle, maps, metrics, progress, statuses
from storage_operator.kube import Body, Kube
from storage_operator.lifecycle import Action
from storage_operator.nodes import Fleet
from storage_operator.states import (
    ClusterPhase,
    ClusterState,
    NodeState,
    RebalanceState,
)

ACTIVE_DELAY = 0.5
IDLE_DELAY = 5.0
STALL_SECONDS = float(os.environ.get("FERRY_STALL_SECONDS", "60"))  # no progress for this long: Degraded
FORMING_GRACE_SECONDS = 30.0

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str | None) -> datetime | None:
    return None if not ts else datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _event_info(obj: Body, *, reason: str, message: str) -> None:
    kopf.info(cast(Any, obj), reason=reason, message=message)


def _event_warn(obj: Body, *, reason: str, message: str) -> None:
    kopf.warn(cast(Any, obj), reason=reason, message=message)


def _name(body: Mapping[str, Any]) -> str:
    return str(body["metadata"]["name"])


def desired_state(node: Mapping[str, Any]) -> NodeState:
    """What the user asks for: spec.state, or decommissioned for a node being deleted (its finalizer drains it)."""
    if node["metadata"].get("deletionTimestamp"):
        return NodeState.DECOMMISSIONED
    return NodeState(node.get("spec", {}).get("state", NodeState.ONLINE))


def effective_state(node: Mapping[str, Any]) -> NodeState | None:
    """The state the node has reached (None before it first joined)."""
    raw = node.get("status", {}).get("state")
    return NodeState(raw) if raw else None


def pod_ready(pod: Mapping[str, Any] | None) -> bool:
    """Whether a pod runs, is Ready and has an IP (and is not being deleted)."""
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return False
    st = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    return ready and bool(st.get("podIP"))


@dataclass
class Pass:
    """What one reconcile pass observed and decided (mutable while the pass runs)."""

    cluster: Body
    nodes: list[Body]
    pods: dict[str, Body]
    pvcs: dict[str, Body]
    smap: ClusterMap | None
    rebalance: dict[str, Any] | None
    last_rebalance: dict[str, Any] | None
    transition: dict[str, Any]
    reports: dict[str, NodeStatus] = field(default_factory=dict)
    active: bool = False

    @property
    def namespace(self) -> str:
        """The cluster's namespace."""
        return str(self.cluster["metadata"]["namespace"])

    @property
    def name(self) -> str:
        """The cluster's name."""
        return _name(self.cluster)

    @property
    def spec(self) -> dict[str, Any]:
        """The cluster's spec."""
        return dict(self.cluster.get("spec") or {})

    def url(self, node: str) -> str | None:
        """The node's address from its ready pod."""
        pod = self.pods.get(node)
        if not pod_ready(pod):
            return None
        assert pod is not None
        return f"http://{pod['status']['podIP']}:{int(self.spec.get('port', 8080))}"

    def rebalance_settled(self) -> bool:
        """No global rebalance is running."""
        return self.rebalance is None or self.rebalance.get("state") != RebalanceState.RUNNING


class Reconciler:
    """Carries out StorageCluster passes with the two narrow clients."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._pushed: dict[tuple[str, str], tuple[str, int, Any]] = {}  # node -> settings key last pushed

    async def reconcile(self, namespace: str, name: str) -> float:
        """One pass for the StorageCluster `namespace/name`; returns the delay before the next one."""
        cluster = await self.kube.get_cluster(namespace, name)
        if cluster is None or cluster["metadata"].get("deletionTimestamp"):
            return IDLE_DELAY
        status = cluster.get("status") or {}
        p = Pass(
            cluster=cluster,
            nodes=await self.kube.list_nodes(namespace, name),
            pods=await self.kube.list_pods(namespace, name),
            pvcs=await self.kube.list_pvcs(namespace, name),
            smap=maps.from_status(status.get("map")),
            rebalance=status.get("rebalance"),
            last_rebalance=status.get("lastRebalance"),
            transition=dict(status.get("transition") or {}),
        )
        fleet = Fleet(await self._auth_key(p))
        try:
            state = ClusterState(p.spec.get("state", ClusterState.ONLINE))
            if state is ClusterState.DECOMMISSIONED:
                await self._decommission_cluster(p, fleet)
            elif state is ClusterState.SHUTDOWN:
                await self._shutdown_cluster(p)
            else:
                await self._online_pass(p, fleet)
        finally:
            await fleet.close()
        return ACTIVE_DELAY if p.active else IDLE_DELAY

    # -- secrets and owned objects -------------------------------------------------------------------

    async def _auth_key(self, p: Pass) -> str | None:
        if not p.spec.get("auth", {}).get("enabled", True):
            return None
        secret_name = builders.auth_secret_name(p.cluster)
        key = await self.kube.secret_value(p.namespace, secret_name, builders.AUTH_KEY)
        if key is None:
            await self.kube.create(builders.auth_secret(p.cluster, secrets.token_hex(32)))
            _event_info(p.cluster, reason="AuthSecretCreated", message=f"created Secret {secret_name}")
            key = await self.kube.secret_value(p.namespace, secret_name, builders.AUTH_KEY)
        return key

    def _pod_wanted(self, p: Pass, node: Body, view: lifecycle.NodeView) -> bool:
        """Level-triggered pod policy: a pod runs while the node is (or is becoming) a serving member."""
        if lifecycle.is_done(view):
            return view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE)
        if p.transition.get("node") == _name(node):
            return lifecycle.needs_pod(view) or view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE)
        if view.effective in (NodeState.ONLINE, NodeState.MAINTENANCE):
            return True  # waiting for its turn: it keeps serving as it is
        return view.effective is None and view.desired in (NodeState.ONLINE, NodeState.MAINTENANCE)

    async def _ensure_objects(self, p: Pass, wanted: dict[str, bool]) -> None:
        """PVCs and services for members; pods created where wanted and deleted where not."""
        for node in p.nodes:
            n = _name(node)
            if n not in p.pvcs and wanted[n]:
                await self.kube.create(builders.node_pvc(p.cluster, node))
                await self.kube.create(builders.node_service(p.cluster, node))
            pod = p.pods.get(n)
            if wanted[n] and pod is None:
                await self.kube.create(builders.node_pod(p.cluster, node))
                _event_info(node, reason="PodCreated", message=f"created pod {builders.pod_name(n)}")
                p.active = True
            elif not wanted[n] and pod is not None and not pod["metadata"].get("deletionTimestamp"):
                await self.kube.delete_pod(p.namespace, builders.pod_name(n))
                _event_info(node, reason="PodDeleted", message=f"deleted pod {builders.pod_name(n)}")
                p.active = True
            elif wanted[n] and not pod_ready(pod):
                p.active = True

    # -- the map ------------------------------------------------------------------------------------

    async def _observe(self, p: Pass, fleet: Fleet) -> None:
        urls = {n: u for n in p.pods if (u := p.url(n))}
        p.reports = await fleet.statuses(urls)

    async def _publish(self, p: Pass, smap: ClusterMap, fleet: Fleet, *, rebalance: bool, why: str) -> None:
        """Record the new map (authoritative, in the API) first, then send it to the nodes."""
        if rebalance:
            if p.rebalance and p.rebalance.get("state") == RebalanceState.RUNNING:
                p.last_rebalance = {**p.rebalance, "state": RebalanceState.SUPERSEDED.value}
            now = _iso(_now())
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
        await self._write_cluster(p, extra={})
        _event_info(
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
            p.reports = {**p.reports, **await fleet.statuses({n: u for n, u in stale.items() if n not in failures})}

    async def _bootstrap(self, p: Pass, fleet: Fleet) -> None:
        """The first map: every new node whose pod is ready joins at once, no rebalance (no data yet)."""
        pending = [
            n
            for n in p.nodes
            if effective_state(n) is None and desired_state(n) in (NodeState.ONLINE, NodeState.MAINTENANCE)
        ]
        ready = [n for n in pending if _name(n) in p.reports]
        created = _parse(p.cluster["metadata"].get("creationTimestamp")) or _now()
        waited = (_now() - created).total_seconds()
        if not ready or (len(ready) < len(pending) and waited < FORMING_GRACE_SECONDS):
            p.active = True
            return
        entries = []
        for n in ready:
            url = p.url(_name(n))
            flags = lifecycle.FLAGS[desired_state(n)] or ()
            assert url is not None
            entries.append(NodeEntry(id=_name(n), url=url, flags=list(flags)))
        await self._publish(p, maps.with_nodes(None, entries), fleet, rebalance=False, why="cluster formed")
        for n in ready:
            await self._set_effective(p, n, desired_state(n))

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
        now = _now()
        if mark != rb.get("progressMark"):
            rb["progressMark"] = mark
            rb["lastProgressAt"] = _iso(now)
        if progress.completed(reports, rid, self._required(p, wanted)):
            rb["state"] = RebalanceState.COMPLETED.value
            rb["finishedAt"] = _iso(now)
            started = _parse(rb.get("startedAt")) or now
            metrics.REBALANCE_SECONDS.observe((now - started).total_seconds())
            _event_info(p.cluster, reason="RebalanceCompleted", message=f"global rebalance {rid} completed")
            p.last_rebalance, p.rebalance = dict(rb), None
            return
        bad = progress.failed(reports, rid)
        if bad:
            _event_warn(
                p.cluster, reason="RebalanceRestarted", message=f"rebalance {rid} ended badly on {', '.join(bad)}"
            )
            await self._publish(p, maps.with_rebalance(p.smap), fleet, rebalance=True, why=f"restart of {rid}")

    def _stalled_since(self, p: Pass) -> str | None:
        rb = p.rebalance
        if rb is None or rb.get("state") != RebalanceState.RUNNING:
            return None
        last = _parse(rb.get("lastProgressAt"))
        if last is not None and (_now() - last).total_seconds() > STALL_SECONDS:
            return str(rb.get("lastProgressAt"))
        return None

    # -- the online pass ----------------------------------------------------------------------------

    def _view(self, p: Pass, node: Body) -> lifecycle.NodeView:
        spec = node.get("spec", {})
        n = _name(node)
        return lifecycle.NodeView(
            desired=desired_state(node),
            effective=effective_state(node),
            flags=maps.flags_of(p.smap, n),
            pod_ready=n in p.reports,
            rebalance_settled=p.rebalance_settled(),
            cleaned=bool(p.transition.get("node") == n and p.transition.get("cleaned")),
            skip_rebalance=bool(spec.get("skipRebalance")),
            force_remove=bool(spec.get("forceRemove")),
            rebalance_enabled=bool(p.spec.get("rebalance", {}).get("enabled", True)),
        )

    def _pick(self, p: Pass) -> Body | None:
        """The node whose membership change is carried out now: the one in progress, else the oldest request."""
        by_name = {_name(n): n for n in p.nodes}
        current = by_name.get(p.transition.get("node", ""))
        if current is not None and lifecycle.next_step(self._view(p, current)).action is not Action.NOTHING:
            return current
        pending = [n for n in p.nodes if lifecycle.next_step(self._view(p, n)).action is not Action.NOTHING]
        if not pending:
            return None
        pending.sort(key=lambda n: (n.get("status", {}).get("pendingSince") or "~", _name(n)))
        return pending[0]

    async def _online_pass(self, p: Pass, fleet: Fleet) -> None:
        wanted = {_name(n): self._pod_wanted(p, n, self._view(p, n)) for n in p.nodes}
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
            if p.smap is not None:
                await self._advance(p, fleet)
        await self._report(p)

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
        for _ in range(6):
            node = self._pick(p)
            if node is None:
                if p.transition:
                    p.transition = {}
                return
            n = _name(node)
            view = self._view(p, node)
            if p.transition.get("node") != n or p.transition.get("to") != view.desired.value:
                keep_cleaned = p.transition.get("node") == n and p.transition.get("cleaned")
                p.transition = {
                    "node": n,
                    "from": view.effective.value if view.effective else None,
                    "to": view.desired.value,
                    "operation": lifecycle.operation(view.effective, view.desired),
                    "startedAt": _iso(_now()),
                    "cleaned": bool(keep_cleaned),
                }
                _event_info(node, reason="TransitionStarted", message=p.transition["operation"])
            p.active = True
            step = lifecycle.next_step(view)
            if not await self._apply(p, fleet, node, view, step):
                return

    async def _apply(self, p: Pass, fleet: Fleet, node: Body, view: lifecycle.NodeView, step: lifecycle.Step) -> bool:
        """Apply one step; True when the next step may follow in the same pass."""
        n = _name(node)
        assert p.smap is not None
        if step.action is Action.START_POD or step.action is Action.AWAIT_REBALANCE:
            return False
        if step.action is Action.PUBLISH:
            url = p.url(n) or (p.smap.nodes[n].url if n in p.smap.nodes else None)
            if url is None:
                return False
            why = f"{n}: {p.transition['operation']}"
            await self._publish(
                p,
                maps.with_node(p.smap, n, url, step.flags, rebalance=step.rebalance),
                fleet,
                rebalance=step.rebalance,
                why=why,
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
                    _event_warn(node, reason="CleanupFailed", message=str(err))
                    return False
            p.transition["cleaned"] = True
            _event_info(node, reason="CleanedUp", message="user data removed" if rm else "node metadata removed")
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
            _event_info(node, reason="TransitionCompleted", message=f"node is {view.desired.value}")
            await self._set_effective(p, node, view.desired)
            p.transition = {}
            return True
        return False

    async def _set_effective(self, p: Pass, node: Body, state: NodeState) -> None:
        node.setdefault("status", {})["state"] = state.value
        node["status"]["pendingSince"] = None
        await self.kube.patch_node_status(p.namespace, _name(node), {"state": state.value, "pendingSince": None})

    # -- cluster-wide states -------------------------------------------------------------------------

    async def _shutdown_cluster(self, p: Pass) -> None:
        """All node pods go; the map stays; online brings them back with no rebalance."""
        for n, pod in p.pods.items():
            if not pod["metadata"].get("deletionTimestamp"):
                await self.kube.delete_pod(p.namespace, builders.pod_name(n))
        p.active = bool(p.pods)
        await self._report(p)

    async def _decommission_cluster(self, p: Pass, fleet: Fleet) -> None:
        """Destroy the cluster: metadata always, user data and volumes too with rmUserData."""
        rm = bool(p.spec.get("rmUserData"))
        for node in p.nodes:
            n = _name(node)
            if effective_state(node) is NodeState.DECOMMISSIONED:
                continue
            url = p.url(n)
            if not rm and url is not None:
                try:
                    await fleet.cleanup(url, rm_user_data=False)
                except Exception as err:
                    log.info("cleanup of %s failed: %s", n, err)
            await self.kube.delete_pod(p.namespace, builders.pod_name(n))
            if rm:
                await self.kube.delete_pvc(p.namespace, builders.pvc_name(n))
            else:
                await self.kube.orphan_pvc(p.namespace, builders.pvc_name(n))
            await self._set_effective(p, node, NodeState.DECOMMISSIONED)
        p.smap, p.rebalance, p.transition = None, None, {}
        await self._report(p)

    # -- reporting -----------------------------------------------------------------------------------

    def _waiting_for(self, p: Pass) -> str:
        t = p.transition
        if not t:
            return "waiting for the current membership change to finish"
        rid = p.rebalance.get("id") if p.rebalance else None
        tail = f" (global rebalance {rid})" if rid else ""
        return f"waiting for {t.get('node')}'s {t.get('operation')} to finish{tail}"

    async def _report(self, p: Pass) -> None:
        now = _now()
        state = ClusterState(p.spec.get("state", ClusterState.ONLINE))
        online = state is ClusterState.ONLINE
        rid = p.rebalance.get("id") if p.rebalance else (p.last_rebalance or {}).get("id")
        cluster_pct = int((p.rebalance or {}).get("percent", 100))
        stalled = self._stalled_since(p)
        effective: list[NodeState | None] = []
        for node in p.nodes:
            n = _name(node)
            view = self._view(p, node)
            step = lifecycle.next_step(view) if online else lifecycle.Step(Action.NOTHING)
            is_turn = p.transition.get("node") == n
            wanted = online and self._pod_wanted(p, node, view)
            skip = ""
            if node.get("spec", {}).get("skipRebalance"):
                skip = "spec.skipRebalance is set: state changes of this node do not migrate its data"
            elif not p.spec.get("rebalance", {}).get("enabled", True):
                skip = "rebalance is disabled for the cluster: state changes do not migrate data"
            situation = statuses.NodeSituation(
                view=view,
                step=step,
                is_turn=is_turn,
                waiting_for=self._waiting_for(p),
                pod_exists=n in p.pods,
                pod_ready=pod_ready(p.pods.get(n)),
                pod_wanted=wanted,
                cluster_online=online,
                rebalance_id=rid,
                percent=cluster_pct if p.rebalance else None,
                stalled_since=stalled,
                skip_note=skip,
            )
            await self._write_node(p, node, situation, now)
            effective.append(effective_state(node))
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
            waiting=self._waiting_for(p) if p.transition else "",
            stalled_since=stalled,
            rebalance_id=rid,
        )
        final_state = state.value
        if state is ClusterState.SHUTDOWN and p.pods:
            final_state = (p.cluster.get("status") or {}).get("state", ClusterState.ONLINE.value)
        gen = int(p.cluster["metadata"].get("generation", 0))
        await self._write_cluster(
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
                    now=_iso(now),
                ),
            },
        )

    async def _write_cluster(self, p: Pass, *, extra: dict[str, Any]) -> None:
        body = {
            "map": maps.to_status(p.smap),
            "rebalance": p.rebalance,
            "lastRebalance": p.last_rebalance,
            "transition": p.transition or None,
            **extra,
        }
        await self.kube.patch_cluster_status(p.namespace, p.name, body)

    async def _write_node(self, p: Pass, node: Body, s: statuses.NodeSituation, now: datetime) -> None:
        n = _name(node)
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
                old.get("conditions") or [], statuses.node_conditions(s), generation=gen, now=_iso(now)
            ),
        }
        if report is not None:
            new["objects"], new["bytes"] = report.objects, report.bytes
            if report.rebalance.id is not None and report.rebalance.id == s.rebalance_id:
                new["rebalance"] = progress.node_progress(report.rebalance, s.percent or 100, now)
        if s.step.action is not Action.NOTHING and not s.is_turn and not old.get("pendingSince"):
            new["pendingSince"] = _iso(now)
        elif s.step.action is Action.NOTHING and old.get("pendingSince"):
            new["pendingSince"] = None
        if all(old.get(k) == v for k, v in new.items() if k != "conditions") and _same_conditions(
            old.get("conditions"), new["conditions"]
        ):
            return
        node.setdefault("status", {}).update(new)
        await self.kube.patch_node_status(p.namespace, n, new)


def _same_conditions(old: Any, new: list[dict[str, Any]]) -> bool:
    if not isinstance(old, list) or len(old) != len(new):
        return False
    keys = ("type", "status", "reason", "message", "observedGeneration")
    return all(all(o.get(k) == c.get(k) for k in keys) for o, c in zip(old, new, strict=True))


async def release(kube: Kube, cluster: Body) -> None:
    """The StorageCluster is being deleted: its node pods go, every volume stays (orphaned from its node)."""
    namespace, name = str(cluster["metadata"]["namespace"]), _name(cluster)
    for node in await kube.list_pods(namespace, name):
        await kube.delete_pod(namespace, builders.pod_name(node))
    for node in await kube.list_pvcs(namespace, name):
        await kube.orphan_pvc(namespace, builders.pvc_name(node))
