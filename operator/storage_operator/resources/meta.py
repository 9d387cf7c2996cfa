"""What every object the operator owns carries: the API group, labels, selectors, owner reference (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "ferry.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CLUSTER_LABEL = f"{GROUP}/cluster"
NODE_LABEL = f"{GROUP}/node"


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to `owner` (a StorageNode or StorageCluster body)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner.get("apiVersion", API_VERSION),
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


NAME = "ferry-storage-node"
COMPONENT = "storage-node"
PART_OF = "ferry"
MANAGED_BY = "ferry-operator"


def labels(cluster: str, node: str | None = None) -> dict[str, str]:
    """Labels of everything the operator creates for a cluster (and a node): Kubernetes' recommended ones and ours.

    None of them ever changes for an object, so selectors may use them; the version is on pods only
    (``pods.node_pod``) and no selector uses it.
    """
    out = {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        CLUSTER_LABEL: cluster,
    }
    if node is not None:
        out[NODE_LABEL] = node
    return out


def pod_selector(cluster: str) -> dict[str, str]:
    """The labels that select the cluster's node pods (the disruption budget, the spread constraint).

    Only labels every node pod has carried since the first release, so pods created before an upgrade of the
    operator are selected too, and never the version, which changes with the image.
    """
    return {"app.kubernetes.io/name": NAME, CLUSTER_LABEL: cluster}


def object_meta(name: str, owner: Mapping[str, Any], cluster: str, node: str | None) -> dict[str, Any]:
    """The metadata of an owned object: its name and namespace, the labels, a controller reference to `owner`."""
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels(cluster, node),
        "ownerReferences": [owner_reference(owner)],
    }
