"""The objects a pass keeps for each node: claim and Service for members, the pod where it is wanted, none where not.

The manifests come from ``resources`` (pure builders); this step creates what is missing and deletes the pods that
are not wanted (``Pass.pods_wanted``), nodes concurrently, and returns its ``Outcome``.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage_operator.clients import concurrency, events
from storage_operator.clients.protocols import Kube
from storage_operator.model.bodies import Body, is_deleted, name_of, pod_ready
from storage_operator.plan.passes import Outcome, Pace, Pass
from storage_operator.resources import claims, pods, services


async def ensure_objects(kube: Kube, p: Pass, pods_wanted: Mapping[str, bool]) -> Outcome:
    """PVCs and services for members; pods created where wanted and deleted where not (nodes concurrently)."""
    paces: list[Pace] = []

    async def one(node: Body) -> None:
        n = name_of(node)
        wanted = pods_wanted[n]
        if n not in p.pvcs and wanted:
            await _create(kube, node, claims.node_pvc(p.cluster, p.spec, node))
            await _create(kube, node, services.node_service(p.cluster, p.spec, node))
        pod = p.pods.get(n)
        claim = p.pvcs.get(n)
        if wanted and pod is None and claim is not None and is_deleted(claim):
            paces.append(Pace.HURRY)  # its claim goes (deleted with its volume): a new one first, then the pod
        elif wanted and pod is None:
            if not await _create(kube, node, pods.revised_pod(p.cluster, p.spec, node)):
                return  # e.g. an affinity the CRD keeps as given: tried again at idle pace
            events.info(node, reason="PodCreated", message=f"created pod {pods.pod_name(n)}")
            paces.append(Pace.HURRY)
        elif not wanted and pod is not None and not is_deleted(pod):
            await kube.delete_pod(p.namespace, pods.pod_name(n))
            events.info(node, reason="PodDeleted", message=f"deleted pod {pods.pod_name(n)}")
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
