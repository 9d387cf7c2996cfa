"""The Services the operator owns: each node's headless Service and the cluster's client Service (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import meta


def service_name(node: str) -> str:
    """The per-node headless Service: the node's stable DNS name on a real cluster."""
    return f"{node}-node"


def node_service(cluster: Mapping[str, Any], spec: ClusterSpec, node: Mapping[str, Any]) -> dict[str, Any]:
    """A headless Service for the node: a stable name that follows the pod."""
    name = node["metadata"]["name"]
    cname = cluster["metadata"]["name"]
    selector = {meta.CLUSTER_LABEL: cname, meta.NODE_LABEL: name}
    return _service(meta.object_meta(service_name(name), node, cname, name), spec, selector, headless=True)


def _service(
    metadata: dict[str, Any], spec: ClusterSpec, selector: dict[str, str], *, headless: bool
) -> dict[str, Any]:
    """A Service on the nodes' port `http`: headless and publishing pods not Ready, or a ClusterIP of Ready ones."""
    address = {"clusterIP": "None"} if headless else {"type": "ClusterIP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            **address,
            "publishNotReadyAddresses": headless,
            "selector": selector,
            "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}],
        },
    }


def client_service_name(cluster: str) -> str:
    """The cluster's client Service: the StorageCluster's own name (``<cluster>.<namespace>.svc``)."""
    return cluster


def client_service(cluster: Mapping[str, Any], spec: ClusterSpec) -> dict[str, Any]:
    """The cluster's client Service (owned by the StorageCluster): one ClusterIP address for every client.

    It selects every node pod of the cluster and publishes only the Ready ones (not headless, no
    ``publishNotReadyAddresses``): readiness decides which serve; any node answers any request.

    Its name is the cluster's, so it collides with a node's headless Service (``service_name``) when a
    StorageNode is named so that ``<node>-node`` is the cluster's name: whichever comes second is not created
    (AlreadyExists), and the step that keeps the client Service says so in a Warning event on the StorageCluster.
    """
    cname = cluster["metadata"]["name"]
    metadata = meta.object_meta(client_service_name(cname), cluster, cname, None)
    return _service(metadata, spec, meta.pod_selector(cname), headless=False)
