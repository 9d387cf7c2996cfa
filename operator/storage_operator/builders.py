"""Pure builders of the Kubernetes objects the operator owns: one function per kind, each returning a manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "ferry.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CLUSTER_LABEL = f"{GROUP}/cluster"
NODE_LABEL = f"{GROUP}/node"
DATA_MOUNT = "/data"
AUTH_MOUNT = "/etc/ferry/auth"
AUTH_KEY = "secret"


def pod_name(node: str) -> str:
    """The pod of StorageNode `node`."""
    return f"{node}-pod"


def pvc_name(node: str) -> str:
    """The data volume claim of StorageNode `node`."""
    return f"{node}-data"


def service_name(node: str) -> str:
    """The per-node headless Service: the node's stable DNS name on a real cluster."""
    return f"{node}-node"


def auth_secret_name(cluster: Mapping[str, Any]) -> str:
    """Name of the Secret holding the cluster's token-signing key."""
    auth = cluster.get("spec", {}).get("auth", {})
    return str(auth.get("secretName") or f"{cluster['metadata']['name']}-auth")


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


def labels(cluster: str, node: str | None = None) -> dict[str, str]:
    """Labels of everything the operator creates for a cluster (and a node)."""
    out = {
        "app.kubernetes.io/name": "ferry-storage-node",
        "app.kubernetes.io/managed-by": "ferry-operator",
        "app.kubernetes.io/instance": cluster,
        CLUSTER_LABEL: cluster,
    }
    if node is not None:
        out[NODE_LABEL] = node
    return out


def _meta(name: str, owner: Mapping[str, Any], cluster: str, node: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels(cluster, node),
        "ownerReferences": [owner_reference(owner)],
    }


def mountpaths(count: int) -> list[str]:
    """The mountpath directories inside the data volume."""
    return [f"{DATA_MOUNT}/mp{i}" for i in range(count)]


# The image's numeric user (Dockerfile); fsGroup makes the data volume writable for it.
NODE_UID = 10001
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NODE_UID,
    "runAsGroup": NODE_UID,
    "fsGroup": NODE_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def node_pod(cluster: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """The storage-node pod of `node`: `python -m storage_node` on the pod IP, data on the node's PVC.

    It passes Pod Security "restricted": non-root, no privilege escalation, no capabilities, RuntimeDefault
    seccomp; the volume is written through fsGroup.
    """
    spec = cluster.get("spec", {})
    name = node["metadata"]["name"]
    cname = cluster["metadata"]["name"]
    port = int(spec.get("port", 8080))
    rebalance = spec.get("rebalance", {})
    auth_on = bool(spec.get("auth", {}).get("enabled", True))
    args = ["--node-id", name, "--listen", f"$(POD_IP):{port}", "--state-dir", f"{DATA_MOUNT}/state"]
    for mp in mountpaths(int(spec.get("storage", {}).get("mountpaths", 2))):
        args += ["--mountpath", mp]
    args += ["--rebalance-concurrency", str(int(rebalance.get("concurrency", 4)))]
    args += ["--rebalance-bandwidth", str(int(rebalance.get("bandwidth", 0)))]
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_MOUNT}]
    volumes: list[dict[str, Any]] = [{"name": "data", "persistentVolumeClaim": {"claimName": pvc_name(name)}}]
    if auth_on:
        args += ["--auth-secret-file", f"{AUTH_MOUNT}/{AUTH_KEY}"]
        mounts.append({"name": "auth", "mountPath": AUTH_MOUNT, "readOnly": True})
        volumes.append({"name": "auth", "secret": {"secretName": auth_secret_name(cluster)}})
    probe: dict[str, Any] = {
        "httpGet": {"path": "/health/ready", "port": port},
        "periodSeconds": 2,
        "failureThreshold": 3,
    }
    container: dict[str, Any] = {
        "name": "node",
        "image": spec.get("image", "ferry:dev"),
        "imagePullPolicy": spec.get("imagePullPolicy", "IfNotPresent"),
        "command": ["python", "-m", "storage_node"],
        "args": args,
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": probe,
        "livenessProbe": {
            "httpGet": {"path": "/health/live", "port": port},
            "periodSeconds": 5,
            "failureThreshold": 6,
        },
        "volumeMounts": mounts,
        "securityContext": dict(CONTAINER_SECURITY_CONTEXT),
    }
    if spec.get("resources"):
        container["resources"] = dict(spec["resources"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(pod_name(name), node, cname, name),
        "spec": {
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 30,
            "securityContext": dict(POD_SECURITY_CONTEXT),
            "containers": [container],
            "volumes": volumes,
        },
    }


def node_pvc(cluster: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """The node's data volume claim (owned by the StorageNode; survives pod re-creation)."""
    storage = cluster.get("spec", {}).get("storage", {})
    name = node["metadata"]["name"]
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage.get("size", "1Gi")}},
    }
    if storage.get("storageClassName"):
        spec["storageClassName"] = storage["storageClassName"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(pvc_name(name), node, cluster["metadata"]["name"], name),
        "spec": spec,
    }


def node_service(cluster: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """A headless Service for the node: a stable name that follows the pod."""
    name = node["metadata"]["name"]
    cname = cluster["metadata"]["name"]
    port = int(cluster.get("spec", {}).get("port", 8080))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service_name(name), node, cname, name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {CLUSTER_LABEL: cname, NODE_LABEL: name},
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }


def auth_secret(cluster: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The cluster's token-signing Secret (owned by the StorageCluster)."""
    cname = cluster["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(auth_secret_name(cluster), cluster, cname, None),
        "stringData": {AUTH_KEY: key},
    }
