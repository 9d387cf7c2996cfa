"""The node's headless Service: a stable DNS name that follows its pod (pure)."""

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
    port = spec.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.object_meta(service_name(name), node, cname, name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {meta.CLUSTER_LABEL: cname, meta.NODE_LABEL: name},
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }
