"""The node's data volume claim: owned by its StorageNode, kept across pod re-creation (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import meta


def pvc_name(node: str) -> str:
    """The data volume claim of StorageNode `node`."""
    return f"{node}-data"


def node_pvc(cluster: Mapping[str, Any], spec: ClusterSpec, node: Mapping[str, Any]) -> dict[str, Any]:
    """The node's data volume claim (owned by the StorageNode; survives pod re-creation)."""
    name = node["metadata"]["name"]
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage.size}},
    }
    if spec.storage.storage_class_name:
        claim["storageClassName"] = spec.storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta.object_meta(pvc_name(name), node, cluster["metadata"]["name"], name),
        "spec": claim,
    }
