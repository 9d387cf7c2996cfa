"""kopf glue: every event wakes the one reconcile loop of its StorageCluster; the pass is ``reconciler``'s.

A daemon per StorageCluster runs ``Reconciler.reconcile`` — on StorageNode and pod events at once, otherwise
on a timer (fast while something is in progress). kopf peering pauses the daemons of standby replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from pathlib import Path
from typing import Any

import kopf

from storage_operator.clients import metrics
from storage_operator.clients.kube import LightKube
from storage_operator.clients.nodes import HttpFleet
from storage_operator.handlers import diffbase
from storage_operator.model.bodies import is_deleted
from storage_operator.model.specs import ClusterSpec, NodeSpec
from storage_operator.model.states import ClusterState, NodeState
from storage_operator.model.statuses import NodeStatus
from storage_operator.reconciler import reconciling
from storage_operator.resources import meta
from storage_operator.steps import clusterwide

GROUP, VERSION = meta.GROUP, meta.VERSION
FINALIZER = reconciling.FINALIZER
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _wake(memo: Any, namespace: str | None, cluster: str | None) -> None:
    if namespace and cluster:
        memo.wakeups.setdefault((namespace, cluster), asyncio.Event()).set()


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the service account at KUBERNETES_SERVICE_HOST:PORT (as client-go does); else the kubeconfig."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    token = SERVICE_ACCOUNT / "token"
    if host and token.exists():
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        ca = SERVICE_ACCOUNT / "ca.crt"
        ns = SERVICE_ACCOUNT / "namespace"
        return kopf.ConnectionInfo(
            server=f"https://{f'[{host}]' if ':' in host else host}:{port}",
            ca_path=str(ca) if ca.exists() else None,
            token=token.read_text().strip() or None,
            default_namespace=ns.read_text().strip() if ns.exists() else None,
        )
    return kopf.login_with_kubeconfig(settings=settings, **kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Operator settings, the shared Kubernetes client, the metrics endpoint."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.diffbase_storage = diffbase.LeanDiffBaseStorage()
    if settings.peering.priority == 0:
        # replicas of equal priority would all freeze: a random one makes one active and the others standby
        settings.peering.priority = random.randint(1, 1_000_000)
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    memo.kube = LightKube()
    memo.wakeups = {}
    memo.node_generations = {}
    metrics.serve_from_env()


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    """Release the Kubernetes client's connections."""
    await memo.kube.close()


@kopf.daemon(GROUP, VERSION, "storageclusters", cancellation_timeout=10.0)
async def cluster_loop(
    name: str, namespace: str | None, memo: kopf.Memo, stopped: kopf.DaemonStopped, logger: kopf.Logger, **_: Any
) -> None:
    """The StorageCluster's reconcile loop: one pass per wake-up or timer tick, resumed after restarts."""
    assert namespace is not None, "StorageCluster is namespaced"
    wakeup = memo.wakeups.setdefault((namespace, name), asyncio.Event())
    reconciler = reconciling.Reconciler(memo.kube, wake=wakeup.set, fleets=HttpFleet)
    try:
        while not stopped:
            wakeup.clear()
            try:
                with metrics.RECONCILE_SECONDS.time():
                    next_delay = await reconciler.reconcile(namespace, name)
                if next_delay is None:
                    return  # the StorageCluster is gone
                delay = next_delay
            except Exception:  # a failed pass is logged, counted and retried; the loop must go on
                metrics.RECONCILE_ERRORS.inc()
                logger.exception("reconcile of %s/%s failed; retrying", namespace, name)
                delay = 2.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), delay)
    finally:
        await reconciler.close()
        metrics.STATUSES.forget(namespace, name)  # no loop, no fresh status: its gauges would go stale
        if stopped.reason is not None and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
            # kopf stops the loop when the StorageCluster is marked for deletion, possibly before a pass saw
            # it; in a terminating namespace kopf's own deletion handlers may never run: release it here
            await clusterwide.release_if_deleted(memo.kube, namespace, name, FINALIZER)


@kopf.on.event(GROUP, VERSION, "storagenodes")
async def node_event(body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A user's change of a StorageNode (spec, deletion) wakes its cluster's loop; our own status writes do not."""
    metadata = body.get("metadata", {})
    key = (namespace, metadata.get("name"))
    seen = (metadata.get("generation"), metadata.get("deletionTimestamp"), metadata.get("uid"))
    if memo.node_generations.get(key) != seen:
        memo.node_generations[key] = seen
        _wake(memo, namespace, NodeSpec.of(body).cluster)


@kopf.on.event("", "v1", "pods", labels={meta.CLUSTER_LABEL: kopf.PRESENT})
async def pod_event(labels: kopf.Labels, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A node pod changed (started, became ready, died): wake its cluster's loop."""
    _wake(memo, namespace, labels.get(meta.CLUSTER_LABEL))


@kopf.on.delete(GROUP, VERSION, "storagenodes")
async def drain_node(body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """`kubectl delete storagenode`: hold the finalizer until the node is decommissioned (drained first)."""
    cluster_name = NodeSpec.of(body).cluster
    if namespace is None or not cluster_name:
        return
    cluster = await memo.kube.get_cluster(namespace, cluster_name)
    if cluster is None or is_deleted(cluster):
        return
    if ClusterSpec.of(cluster).state is ClusterState.DECOMMISSIONED:
        return
    status = NodeStatus.from_status(body.get("status"))
    if status.state is NodeState.DECOMMISSIONED:
        return
    _wake(memo, namespace, cluster_name)
    phase = status.phase or "Pending"
    raise kopf.TemporaryError(f"draining before deletion (phase {phase})", delay=1)


@kopf.on.delete(GROUP, VERSION, "storageclusters")
async def release_cluster(body: kopf.Body, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Deleting a StorageCluster stops its node pods and keeps every volume (data goes only by decommission)."""
    await clusterwide.release(memo.kube, dict(body))
