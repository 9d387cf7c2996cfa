"""Pure builders of the Kubernetes objects the operator owns: one function per kind, each returning a manifest."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from storage_operator import revisions

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


NAME = "ferry-storage-node"
COMPONENT = "storage-node"
PART_OF = "ferry"
MANAGED_BY = "ferry-operator"
VERSION_LABEL = "app.kubernetes.io/version"


def labels(cluster: str, node: str | None = None) -> dict[str, str]:
    """Labels of everything the operator creates for a cluster (and a node): Kubernetes' recommended ones and ours.

    None of them ever changes for an object, so selectors may use them; the version is on pods only
    (:func:`node_pod`) and no selector uses it.
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


_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def image_version(image: str) -> str | None:
    """The version label of `image`: its tag (`latest` when it has neither tag nor digest), a label-safe value."""
    ref = image.split("@", 1)[0]
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:  # no tag: the colon (if any) belongs to a registry's port
        tag = "" if "@" in image else "latest"
    value = _LABEL_VALUE.sub("-", tag)[:63].strip("-_.")
    return value or None


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
    seccomp; the volume is written through fsGroup. The cluster's spec adds resources (default requests when
    unset), placement, priority, pull secrets, labels and annotations; none of them can change the security
    context, and the operator's labels win over the user's `podLabels` of the same key.
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
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, *spec.get("env", [])],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": probe,
        "livenessProbe": {
            "httpGet": {"path": "/health/live", "port": port},
            "periodSeconds": 5,
            "failureThreshold": 6,
        },
        "volumeMounts": mounts,
        "securityContext": dict(CONTAINER_SECURITY_CONTEXT),
        "resources": resources(spec),
    }
    meta = _meta(pod_name(name), node, cname, name)
    version = image_version(container["image"])
    ours = {**meta["labels"], **({VERSION_LABEL: version} if version else {})}
    meta["labels"] = {**(spec.get("podLabels") or {}), **ours}  # the operator's labels win
    if spec.get("podAnnotations"):
        meta["annotations"] = dict(spec["podAnnotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 30,
            "securityContext": dict(POD_SECURITY_CONTEXT),
            "containers": [container],
            "volumes": volumes,
            **placement(spec, cname),
        },
    }


# Requests of a node pod whose cluster sets no resources: enough to schedule it honestly (not BestEffort).
DEFAULT_RESOURCES: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "256Mi"}}
# The pod-spec fields the StorageCluster spec passes through as they are, under the same names.
PASSED_THROUGH = ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets")


def resources(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The node container's resources: the cluster's `resources` when set (not empty), else the default requests."""
    return copy.deepcopy(dict(spec.get("resources") or DEFAULT_RESOURCES))


def spread(cluster: str) -> list[dict[str, Any]]:
    """The default spread: node pods of one cluster on different hosts where possible (preferred, not required)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": pod_selector(cluster)},
        }
    ]


def placement(spec: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    """The pod-spec fields the cluster's spec sets (scheduling, priority, pull secrets); the default spread.

    `topologySpreadConstraints` unset spreads the pods across hosts (:func:`spread`); an empty list turns that off.
    """
    out = {k: copy.deepcopy(spec[k]) for k in PASSED_THROUGH if spec.get(k)}
    given = spec.get("topologySpreadConstraints")
    constraints = spread(cluster) if given is None else copy.deepcopy(given)
    if constraints:
        out["topologySpreadConstraints"] = constraints
    return out


TEMPLATE_NODE = "node-template"  # the node a cluster's pod revision is computed for (no real node has this name)
LIVE_SETTINGS = ("concurrency", "bandwidth")  # spec.rebalance keys the nodes take while running


def pod_revision(cluster: Mapping[str, Any]) -> str:
    """The revision the cluster's spec asks node pods to be at: the hash of its pod for a template node.

    Every node's pod differs only by the node's name (arguments, labels, claim), so one template stands for
    all of them: whatever `node_pod` puts in a pod is part of the revision, and changing it rolls the nodes.
    """
    meta = cluster["metadata"]
    spec = dict(cluster.get("spec") or {})
    # pushed to running nodes (reconciling._settings): a change needs no restart, so it is no new revision
    spec["rebalance"] = {k: v for k, v in (spec.get("rebalance") or {}).items() if k not in LIVE_SETTINGS}
    template = {
        "apiVersion": API_VERSION,
        "kind": "StorageNode",
        "metadata": {"name": TEMPLATE_NODE, "namespace": meta.get("namespace", ""), "uid": ""},
        "spec": {"cluster": meta["name"]},
    }
    return revisions.digest(node_pod({**cluster, "spec": spec}, template))


def revised_pod(cluster: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """The node's pod (`node_pod`) marked with the revision it is built at (annotation ``ferry.dev/revision``)."""
    pod = node_pod(cluster, node)
    meta = pod["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), revisions.ANNOTATION: pod_revision(cluster)}
    return pod


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


def budget_name(cluster: str) -> str:
    """The PodDisruptionBudget of the cluster's node pods."""
    return f"{cluster}-nodes"


def node_budget(cluster: Mapping[str, Any], min_available: int) -> dict[str, Any]:
    """The PodDisruptionBudget of the cluster's node pods (owned by the StorageCluster).

    An integer `minAvailable`, the one form Kubernetes honours for pods that no scalable workload owns.
    """
    cname = cluster["metadata"]["name"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(budget_name(cname), cluster, cname, None),
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": pod_selector(cname)}},
    }
