"""The StorageCluster reconcile: one idempotent pass — observe once, fold the steps' outcomes, report once.

Flow of a pass (``Reconciler.reconcile``), each step (``steps``) a function returning its ``plan.passes.Outcome``:

    observe (API objects, node reports) -> cluster-wide state (``clusterwide``: shutdown / decommission)
        or the online steps: owned objects (``resources``) -> the client Service (``services``) -> volumes
        replaced (``replacing``) -> map (``publishing``) -> rebalance tracking (``progress``) -> [the disruption
        budget (``budgets``)]
        -> [a change of K copies (``publishing``)] -> [a node given up or taken back, or back on an empty
        volume (``redundancy``)] -> the one transition (``lifecycle``); then the rolling upgrade
        (``rollouts``), one node at a time, while no transition is in progress
        -> report (``statuses``, the one status write) -> follow the running rebalance (``clients.watching``)
        -> the delay before the next pass, from the most urgent outcome

Everything the pass needs to resume lives in the API: the map, the running rebalance and the transition in
the StorageCluster's status, effective states in the StorageNodes' statuses. No in-memory-only progress.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from secrets import token_hex
from typing import Any

from storage_node.schemas import SettingsUpdate, rebalance_settled

from storage_operator.clients import events, watching
from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model.bodies import Body, is_deleted, namespace_of, restarts
from storage_operator.model.clock import SYSTEM, Clock
from storage_operator.model.specs import ClusterSpec
from storage_operator.model.states import ClusterState
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.resources import disruption_budgets, secrets
from storage_operator.resources import services as service_objects
from storage_operator.steps import (
    budgets,
    clusterwide,
    lifecycle,
    progress,
    publishing,
    redundancy,
    replacing,
    resources,
    rollouts,
    services,
    statuses,
)

FINALIZER = "ferry.dev/finalizer"
ACTIVE_DELAY = 0.25  # between passes while something is in progress (pods starting, maps to retry)
REBALANCE_DELAY = 1.0  # while only a rebalance runs: progress is reported this often, its end is pushed (watching)
IDLE_DELAY = 5.0
STALL_SECONDS = float(os.environ.get("FERRY_STALL_SECONDS", "60"))  # no progress for this long: Degraded

log = logging.getLogger(__name__)


class Reconciler:
    """Carries out StorageCluster passes with the two narrow clients.

    `fleets` makes the nodes' client for a cluster key (a new one when the key changed or its token ages);
    `clock` is where each pass reads the time.
    """

    def __init__(
        self,
        kube: Kube,
        wake: Callable[[], None],
        fleets: Callable[[str | None], Fleet],
        clock: Clock = SYSTEM,
    ) -> None:
        self.kube = kube
        self._fleets = fleets
        self._clock = clock
        self._pushed: dict[tuple[str, str], tuple[str, int, Any]] = {}  # node -> settings key last pushed
        self._fleet: Fleet | None = None  # kept across passes: keep-alive connections to the nodes
        self._watch = watching.SettleWatch(wake)
        self._budget_refused: str | None = None  # the API server's last refusal of the disruption budget
        self._service_refused: str | None = None  # why the client Service was last not kept

    async def close(self) -> None:
        """Stop the long polls and close the connections to the nodes."""
        self._watch.stop()
        if self._fleet is not None:
            await self._fleet.close()
            self._fleet = None

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """One pass for the StorageCluster `namespace/name`; the delay before the next one (None: it is gone)."""
        cluster = await self.kube.get_cluster(namespace, name)
        if cluster is None:
            return None
        if is_deleted(cluster):
            await clusterwide.release(self.kube, cluster)
            await clusterwide.release_finalizers(self.kube, cluster, FINALIZER)
            return IDLE_DELAY
        spec = ClusterSpec.of(cluster)
        state = spec.state
        p, fleet = await self._observe(cluster, spec, ask_nodes=state is ClusterState.ONLINE)
        if state is ClusterState.DECOMMISSIONED:
            p = p.after(await clusterwide.decommission(self.kube, fleet, p))
        elif state is ClusterState.SHUTDOWN:
            p = p.after(await clusterwide.shutdown(self.kube, p))
        else:
            p = await self._online(p, fleet)
        stall = STALL_SECONDS if state is ClusterState.ONLINE else float("inf")
        await statuses.report(self.kube, p, stall_seconds=stall)
        return self._delay(p.pace, followed=self._follow_rebalance(p, fleet))

    async def _observe(self, cluster: Body, spec: ClusterSpec, *, ask_nodes: bool) -> tuple[Pass, Fleet]:
        """The pass's one look at the cluster: its objects in the API and (online) what its nodes report."""
        namespace, name = namespace_of(cluster), str(cluster["metadata"]["name"])
        nodes, pods, pvcs, key, budget, service = await asyncio.gather(
            self.kube.list_nodes(namespace, name),
            self.kube.list_pods(namespace, name),
            self.kube.list_pvcs(namespace, name),
            self._auth_key(cluster, spec),
            self.kube.get_budget(namespace, disruption_budgets.budget_name(name)),
            self.kube.get_service(namespace, service_objects.client_service_name(name)),
        )
        fleet = await self._fleet_for(key)
        p = Pass.observed(
            cluster, nodes, pods, pvcs, reports={}, budget=budget, spec=spec, clock=self._clock, client_service=service
        )
        if ask_nodes:
            p = p.after(Outcome(reports=await fleet.statuses({n: u for n in p.pods if (u := p.url(n))})))
        return p, fleet

    async def _online(self, p: Pass, fleet: Fleet) -> Pass:
        """The online cluster's steps, each folded into the pass before the next one looks at it."""
        wanted = p.pods_wanted()
        p = p.after(await resources.ensure_objects(self.kube, p, wanted))
        await self._client_service(p)
        if p.status.map is None:
            await self._budget(p, wanted)
            return p.after(await publishing.bootstrap(self.kube, fleet, p))
        p = p.after(await replacing.replace(self.kube, p))
        p = p.after(await publishing.readdress(self.kube, fleet, p))
        p = p.after(await publishing.push(fleet, p))
        await self._settings(p, fleet)
        p = p.after(await progress.track_rebalance(self.kube, fleet, p, wanted))
        await self._budget(p, wanted)  # before a change starts (see budgets)
        if p.status.rollout is None:  # membership changes wait while a node is rolled
            tracked = p.status.rebalance.id if p.status.rebalance else None
            if p.status.running is None and p.status.transition is None:  # K changes between transitions
                p = p.after(await publishing.recopy(self.kube, fleet, p))
            p = p.after(await redundancy.watch_losses(self.kube, fleet, p))
            p = p.after(await redundancy.refill(self.kube, fleet, p))
            p = p.after(await lifecycle.advance(self.kube, fleet, p))
            started = p.status.running
            if started is not None and started.id != tracked:
                # a rebalance started in this pass with little or nothing to move may already be over (the
                # nodes' statuses were read after the map push): finish its transition now
                p = p.after(await progress.track_rebalance(self.kube, fleet, p, wanted))
                if p.status.running is None:
                    p = p.after(await lifecycle.advance(self.kube, fleet, p))
        return p.after(await rollouts.roll(self.kube, fleet, p))

    async def _budget(self, p: Pass, wanted: dict[str, bool]) -> None:
        """Keep the node pods' disruption budget; a refusal is a Warning event once, not a failed pass."""
        refused = await budgets.keep(self.kube, p, wanted)
        if refused is not None and refused != self._budget_refused:
            log.warning("the PodDisruptionBudget of %s/%s is refused: %s", p.namespace, p.name, refused)
            events.warn(p.cluster, reason="DisruptionBudgetRefused", message=refused)
        self._budget_refused = refused

    async def _client_service(self, p: Pass) -> None:
        """Keep the cluster's client Service; not kept is a Warning event once, not a failed pass."""
        refused = await services.keep(self.kube, p)
        if refused is not None and refused != self._service_refused:
            log.warning("the client Service of %s/%s is not kept: %s", p.namespace, p.name, refused)
            events.warn(p.cluster, reason="ClientServiceRefused", message=refused)
        self._service_refused = refused

    def _delay(self, pace: Pace, *, followed: bool) -> float:
        """Seconds before the next pass: soon while something nobody announces is in progress."""
        if pace is Pace.HURRY or (pace is Pace.BUSY and not followed):
            return ACTIVE_DELAY
        return REBALANCE_DELAY if followed else IDLE_DELAY

    def _follow_rebalance(self, p: Pass, fleet: Fleet) -> bool:
        """Long-poll the members whose part of the running rebalance is not over yet; False if there are none."""
        rb = p.status.running
        if rb is None or p.status.map is None:
            self._watch.stop()
            return False
        unsettled = {
            n: u
            for n, u in p.member_urls().items()
            if not (n in p.reports and rebalance_settled(p.reports[n].rebalance, rb.id))
        }
        self._watch.follow(fleet, rb.id, unsettled)
        return bool(unsettled)

    async def _fleet_for(self, key: str | None) -> Fleet:
        if self._fleet is None or not self._fleet.fresh_for(key):
            await self.close()
            self._fleet = self._fleets(key)
        return self._fleet

    async def _auth_key(self, cluster: Body, spec: ClusterSpec) -> str | None:
        """The key the node tokens are signed with, from the cluster's Secret (created when missing)."""
        if not spec.auth.enabled:
            return None
        namespace = namespace_of(cluster)
        secret_name = secrets.auth_secret_name(cluster, spec)
        key = await self.kube.secret_value(namespace, secret_name, secrets.AUTH_KEY)
        if key is None:
            rejected = await self.kube.create(secrets.auth_secret(cluster, spec, token_hex(32)))
            if rejected is not None:
                raise RuntimeError(f"the API server rejects Secret {secret_name}: {rejected}")
            events.info(cluster, reason="AuthSecretCreated", message=f"created Secret {secret_name}")
            key = await self.kube.secret_value(namespace, secret_name, secrets.AUTH_KEY)
        return key

    async def _settings(self, p: Pass, fleet: Fleet) -> None:
        """Push the rebalance throttle to each node process that has not got this spec's value yet.

        Nodes do not persist settings (a restarted process starts from its pod's arguments), so the key is
        (pod uid, restart count, cluster generation); the cache only saves calls: a push is idempotent.
        """
        rb = p.spec.rebalance
        update = SettingsUpdate(rebalance_concurrency=rb.concurrency, rebalance_bandwidth=rb.bandwidth)
        due: dict[str, tuple[str, int, Any]] = {}
        for n in p.reports:
            pod = p.pods[n]
            key = (str(pod["metadata"]["uid"]), restarts(pod), p.cluster["metadata"].get("generation"))
            if self._pushed.get((p.namespace, n)) != key:
                due[n] = key
        urls = {n: u for n in due if (u := p.url(n))}
        if not urls:
            return
        failures = await fleet.update_settings(urls, update)
        for n in urls:
            if n not in failures:
                self._pushed[(p.namespace, n)] = due[n]
