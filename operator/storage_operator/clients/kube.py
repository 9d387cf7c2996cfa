"""The operator's Kubernetes client on lightkube (async): ``protocols.Kube``, the reads and writes a pass needs."""

from __future__ import annotations

import base64
from typing import Any, cast

from lightkube import ApiError, AsyncClient, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod, Secret, Service
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from storage_operator.model.bodies import Body
from storage_operator.resources import meta

StorageNode = create_namespaced_resource(meta.GROUP, meta.VERSION, "StorageNode", "storagenodes")
StorageCluster = create_namespaced_resource(meta.GROUP, meta.VERSION, "StorageCluster", "storageclusters")

FIELD_MANAGER = "ferry-operator"


def _dict(obj: Any) -> Body:
    """A lightkube object as a plain dict."""
    return cast(Body, obj.to_dict())


def _ignore(err: ApiError, *codes: int) -> None:
    if err.status.code not in codes:
        raise err


class LightKube:
    """``protocols.Kube`` on lightkube: reads and writes of StorageClusters, StorageNodes and owned objects."""

    def __init__(self, client: AsyncClient | None = None) -> None:
        self._client = client or AsyncClient(field_manager=FIELD_MANAGER)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def get_cluster(self, namespace: str, name: str) -> Body | None:
        """The StorageCluster, or None when it does not exist."""
        try:
            obj = await self._client.get(StorageCluster, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)
            return None
        return _dict(obj)

    async def list_nodes(self, namespace: str, cluster: str) -> list[Body]:
        """The StorageNodes of `cluster`, by name."""
        nodes = [_dict(n) async for n in self._client.list(StorageNode, namespace=namespace)]
        # the raw field, not the parsed spec: another cluster's StorageNode that fails to parse stalls no pass here
        mine = (n for n in nodes if (n.get("spec") or {}).get("cluster") == cluster)
        return sorted(mine, key=lambda n: n["metadata"]["name"])

    async def list_pods(self, namespace: str, cluster: str) -> dict[str, Body]:
        """The cluster's node pods, by StorageNode name."""
        selector: dict[str, Any] = {meta.CLUSTER_LABEL: cluster}
        pods = [_dict(p) async for p in self._client.list(Pod, namespace=namespace, labels=selector)]
        return {p["metadata"]["labels"][meta.NODE_LABEL]: p for p in pods}

    async def list_pvcs(self, namespace: str, cluster: str) -> dict[str, Body]:
        """The cluster's node volume claims, by StorageNode name."""
        selector: dict[str, Any] = {meta.CLUSTER_LABEL: cluster}
        claims = [
            _dict(c) async for c in self._client.list(PersistentVolumeClaim, namespace=namespace, labels=selector)
        ]
        return {c["metadata"]["labels"][meta.NODE_LABEL]: c for c in claims}

    async def create(self, manifest: Body) -> str | None:
        """Create an object from its manifest; one that already exists is left as it is.

        Returns the API server's message when it rejects the manifest as invalid (422), None otherwise.
        """
        try:
            await self._client.create(codecs.from_dict(manifest))
        except ApiError as err:
            if err.status.code == 403 and "being terminated" in (err.status.message or ""):
                return None  # the namespace is being deleted: nothing may be created there any more
            if err.status.code == 422:
                return err.status.message or "invalid"
            _ignore(err, 409)
        return None

    async def get_budget(self, namespace: str, name: str) -> Body | None:
        """A PodDisruptionBudget, or None when it does not exist."""
        try:
            obj = await self._client.get(PodDisruptionBudget, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)
            return None
        return _dict(obj)

    async def get_service(self, namespace: str, name: str) -> Body | None:
        """A Service, or None when it does not exist."""
        try:
            obj = await self._client.get(Service, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)
            return None
        return _dict(obj)

    async def apply(self, manifest: Body) -> str | None:
        """Server-side apply of a manifest the operator owns whole (created when missing).

        Returns the API server's message when it refuses (403: no right to, 422: invalid), None otherwise.
        """
        try:
            await self._client.apply(codecs.from_dict(manifest), force=True)
        except ApiError as err:
            if err.status.code == 403 and "being terminated" in (err.status.message or ""):
                return None
            if err.status.code in (403, 422):
                return err.status.message or str(err.status.code)
            raise
        return None

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (graceful); a missing one is fine."""
        try:
            await self._client.delete(Pod, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)

    async def delete_pvc(self, namespace: str, name: str) -> None:
        """Delete a volume claim (the provisioner removes its data); a missing one is fine."""
        try:
            await self._client.delete(PersistentVolumeClaim, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)

    async def orphan_pvc(self, namespace: str, name: str) -> None:
        """Drop the claim's owner references so deleting its StorageNode never deletes the data."""
        patch = {"metadata": {"ownerReferences": None}}
        try:
            await self._client.patch(
                PersistentVolumeClaim, name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except ApiError as err:
            _ignore(err, 404)

    async def patch_node_status(self, namespace: str, name: str, status: Body) -> None:
        """Merge `status` into a StorageNode's status subresource."""
        await self._patch_status(StorageNode, namespace, name, status)

    async def patch_cluster_status(self, namespace: str, name: str, status: Body) -> None:
        """Merge `status` into a StorageCluster's status subresource."""
        await self._patch_status(StorageCluster, namespace, name, status)

    async def _patch_status(self, res: Any, namespace: str, name: str, status: Body) -> None:
        try:
            await self._client.patch(
                res.Status, name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE
            )
        except ApiError as err:
            _ignore(err, 404)

    async def remove_finalizer(self, kind: str, namespace: str, name: str, finalizer: str) -> None:
        """Drop `finalizer` from a StorageCluster or StorageNode (a missing object is fine)."""
        res = StorageCluster if kind == "StorageCluster" else StorageNode
        try:
            obj = _dict(await self._client.get(res, name, namespace=namespace))
            left = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
            patch = {"metadata": {"finalizers": left or None, "resourceVersion": obj["metadata"]["resourceVersion"]}}
            await self._client.patch(res, name, patch, namespace=namespace, patch_type=PatchType.MERGE)
        except ApiError as err:
            _ignore(err, 404, 409)

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's value under `key` (decoded), None when the Secret or key is missing."""
        try:
            secret = await self._client.get(Secret, name, namespace=namespace)
        except ApiError as err:
            _ignore(err, 404)
            return None
        data = secret.data or {}
        return base64.b64decode(data[key]).decode() if key in data else None
