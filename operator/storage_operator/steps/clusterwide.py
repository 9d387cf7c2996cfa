"""Cluster-wide states of a StorageCluster (shutdown, decommission) as steps of a pass, and its deletion."""

from __future__ import annotations

import logging

from storage_operator.clients.protocols import Fleet, Kube
from storage_operator.model.bodies import Body, is_deleted, name_of, namespace_of
from storage_operator.model.states import NodeState
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.resources import claims, pods

log = logging.getLogger(__name__)


async def shutdown(kube: Kube, p: Pass) -> Outcome:
    """All node pods go; the map stays; online brings them back with no rebalance."""
    for n, pod in p.pods.items():
        if not is_deleted(pod):
            await kube.delete_pod(p.namespace, pods.pod_name(n))
    return Outcome(pace=Pace.BUSY if p.pods else Pace.IDLE)


async def decommission(kube: Kube, fleet: Fleet, p: Pass) -> Outcome:
    """Destroy the cluster: metadata always, user data and volumes too with rmUserData; the map goes."""
    rm = p.spec.rm_user_data
    reached: dict[str, NodeState] = {}
    for node in p.nodes:
        n = name_of(node)
        if p.effective(node) is NodeState.DECOMMISSIONED:
            continue
        url = p.url(n)
        if not rm and url is not None:
            try:
                await fleet.cleanup(url, rm_user_data=False)
            except Exception as err:
                log.info("cleanup of %s failed: %s", n, err)
        await kube.delete_pod(p.namespace, pods.pod_name(n))
        if rm:
            await kube.delete_pvc(p.namespace, claims.pvc_name(n))
        else:
            await kube.orphan_pvc(p.namespace, claims.pvc_name(n))
        reached[n] = NodeState.DECOMMISSIONED
    gone = p.status.model_copy(update={"map": None, "rebalance": None, "transition": None})
    return Outcome(status=gone, reached=reached)


async def release(kube: Kube, cluster: Body) -> None:
    """The StorageCluster is being deleted: its node pods go, every volume stays (orphaned from its node)."""
    namespace, name = namespace_of(cluster), name_of(cluster)
    for node in await kube.list_pods(namespace, name):
        await kube.delete_pod(namespace, pods.pod_name(node))
    for node in await kube.list_pvcs(namespace, name):
        await kube.orphan_pvc(namespace, claims.pvc_name(node))


async def release_finalizers(kube: Kube, cluster: Body, finalizer: str) -> None:
    """Let a deleted StorageCluster and its nodes go once released.

    kopf stops serving a namespace as soon as it is terminating, so its deletion handlers may never run there;
    the cluster's loop does their work instead. The nodes of a cluster being deleted have nothing to drain
    into, so none of them keeps the finalizer: one deleted later (a namespace deletes its objects in any
    order) goes at once instead of waiting for a loop that has ended.
    """
    namespace, name = namespace_of(cluster), name_of(cluster)
    for node in await kube.list_nodes(namespace, name):
        if finalizer in (node["metadata"].get("finalizers") or []):
            await kube.remove_finalizer("StorageNode", namespace, name_of(node), finalizer)
    await kube.remove_finalizer("StorageCluster", namespace, name, finalizer)


async def release_if_deleted(kube: Kube, namespace: str, name: str, finalizer: str) -> None:
    """Release the StorageCluster if it is being deleted (its loop was stopped before a pass could do it)."""
    cluster = await kube.get_cluster(namespace, name)
    if cluster is not None and is_deleted(cluster):
        await release(kube, cluster)
        await release_finalizers(kube, cluster, finalizer)
