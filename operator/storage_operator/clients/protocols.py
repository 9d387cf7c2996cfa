"""The two narrow clients as the steps and the reconciler see them: Kubernetes (``Kube``) and the nodes (``Fleet``).

The steps and the reconciler are typed with these Protocols only, never with the implementations
(``kube.LightKube``, ``nodes.HttpFleet``), so a test passes the shared fakes (``tests/unit/operator/fakes.py``)
without a cast. Each Protocol holds what a pass uses, nothing more: a new call is added here and in both its
implementation and its fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from storage_node.schemas import ClusterMap, NodeStatus, RebalanceStatus, SettingsUpdate

from storage_operator.model.bodies import Body


class Kube(Protocol):
    """Reads and writes of StorageClusters, StorageNodes and the objects the operator owns."""

    async def get_cluster(self, namespace: str, name: str) -> Body | None:
        """The StorageCluster, or None when it does not exist."""
        ...

    async def list_nodes(self, namespace: str, cluster: str) -> list[Body]:
        """The StorageNodes of `cluster`, by name."""
        ...

    async def list_pods(self, namespace: str, cluster: str) -> dict[str, Body]:
        """The cluster's node pods, by StorageNode name."""
        ...

    async def list_pvcs(self, namespace: str, cluster: str) -> dict[str, Body]:
        """The cluster's node volume claims, by StorageNode name."""
        ...

    async def create(self, manifest: Body) -> str | None:
        """Create an object (one that exists is left as it is); the API server's message if it is invalid."""
        ...

    async def get_budget(self, namespace: str, name: str) -> Body | None:
        """A PodDisruptionBudget, or None when it does not exist."""
        ...

    async def get_service(self, namespace: str, name: str) -> Body | None:
        """A Service, or None when it does not exist."""
        ...

    async def apply(self, manifest: Body) -> str | None:
        """Server-side apply of a manifest the operator owns whole; the API server's message if it refuses."""
        ...

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (graceful); a missing one is fine."""
        ...

    async def delete_pvc(self, namespace: str, name: str) -> None:
        """Delete a volume claim (the provisioner removes its data); a missing one is fine."""
        ...

    async def orphan_pvc(self, namespace: str, name: str) -> None:
        """Drop the claim's owner references so deleting its StorageNode never deletes the data."""
        ...

    async def patch_node_status(self, namespace: str, name: str, status: Body) -> None:
        """Merge `status` into a StorageNode's status subresource."""
        ...

    async def patch_cluster_status(self, namespace: str, name: str, status: Body) -> None:
        """Merge `status` into a StorageCluster's status subresource."""
        ...

    async def remove_finalizer(self, kind: str, namespace: str, name: str, finalizer: str) -> None:
        """Drop `finalizer` from a StorageCluster or StorageNode (a missing object is fine)."""
        ...

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's value under `key` (decoded), None when the Secret or key is missing."""
        ...


class Asker(Protocol):
    """What a settle watch (``watching``) needs of the nodes: the long poll itself."""

    async def settled(self, url: str, rid: str, *, wait: float) -> RebalanceStatus:
        """The node's rebalance status, once `rid` is over there or `wait` s passed."""
        ...


class Fleet(Asker, Protocol):
    """Admin calls to the nodes of one cluster, kept across passes while :meth:`fresh_for` its key."""

    def fresh_for(self, key: str | None) -> bool:
        """Whether this fleet may still be used with `key` (same key, token far from expiry)."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...

    async def statuses(self, urls: Mapping[str, str]) -> dict[str, NodeStatus]:
        """The status of every node that answers (the others are left out)."""
        ...

    async def install_map(self, urls: Mapping[str, str], smap: ClusterMap) -> dict[str, str]:
        """Install `smap` on the nodes; the failures by node (a node with a newer map counts as done)."""
        ...

    async def update_settings(self, urls: Mapping[str, str], update: SettingsUpdate) -> dict[str, str]:
        """Change the throttle on the nodes; the failures by node."""
        ...

    async def cleanup(self, url: str, *, rm_user_data: bool) -> None:
        """Decommission cleanup of one node (metadata, and user data when asked); raises NodeError."""
        ...
