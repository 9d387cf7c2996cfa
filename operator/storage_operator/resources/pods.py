"""The node pod: `python -m storage_node` on the pod IP, its data on its claim, marked with its revision (pure)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from storage_operator.model import revisions
from storage_operator.model.specs import ClusterSpec, RebalanceSpec
from storage_operator.resources import claims, meta, secrets

DATA_MOUNT = "/data"
AUTH_MOUNT = "/etc/ferry/auth"
READY_PERIOD_S = 2
READY_FAILURES = 3
# how long a pod being deleted serves on, not Ready, before it gets SIGTERM: until its readiness has failed
# (period x threshold) and the lists of Ready pods (endpoints, clients refreshing theirs) have caught up
PRE_STOP_WAIT_S = READY_PERIOD_S * READY_FAILURES + 2


def pod_name(node: str) -> str:
    """The pod of StorageNode `node`."""
    return f"{node}-pod"


VERSION_LABEL = "app.kubernetes.io/version"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def image_version(image: str) -> str | None:
    """The version label of `image`: its tag (`latest` when it has neither tag nor digest), a label-safe value."""
    ref = image.split("@", 1)[0]
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:  # no tag: the colon (if any) belongs to a registry's port
        tag = "" if "@" in image else "latest"
    value = _LABEL_VALUE.sub("-", tag)[:63].strip("-_.")
    return value or None


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


def node_pod(cluster: Mapping[str, Any], spec: ClusterSpec, node: Mapping[str, Any]) -> dict[str, Any]:
    """The storage-node pod of `node`: `python -m storage_node` on the pod IP, data on the node's PVC.

    It passes Pod Security "restricted": non-root, no privilege escalation, no capabilities, RuntimeDefault
    seccomp; the volume is written through fsGroup. The cluster's spec adds resources (default requests when
    unset), placement, priority, pull secrets, labels and annotations; none of them can change the security
    context, and the operator's labels win over the user's `podLabels` of the same key.
    """
    name = node["metadata"]["name"]
    cname = cluster["metadata"]["name"]
    port = spec.port
    args = ["--node-id", name, "--listen", f"$(POD_IP):{port}", "--state-dir", f"{DATA_MOUNT}/state"]
    for mp in mountpaths(spec.storage.mountpaths):
        args += ["--mountpath", mp]
    args += ["--rebalance-concurrency", str(spec.rebalance.concurrency)]
    args += ["--rebalance-bandwidth", str(spec.rebalance.bandwidth)]
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_MOUNT}]
    volumes: list[dict[str, Any]] = [{"name": "data", "persistentVolumeClaim": {"claimName": claims.pvc_name(name)}}]
    if spec.auth.enabled:
        args += ["--auth-secret-file", f"{AUTH_MOUNT}/{secrets.AUTH_KEY}"]
        mounts.append({"name": "auth", "mountPath": AUTH_MOUNT, "readOnly": True})
        volumes.append({"name": "auth", "secret": {"secretName": secrets.auth_secret_name(cluster, spec)}})
    probe: dict[str, Any] = {
        "httpGet": {"path": "/health/ready", "port": port},
        "periodSeconds": READY_PERIOD_S,
        "failureThreshold": READY_FAILURES,
    }
    # a pod being deleted fails readiness first and serves on until every list of Ready pods dropped it
    state_dir = f"{DATA_MOUNT}/state"
    pre_stop = ["python", "-m", "storage_node.prestop", "--state-dir", state_dir, "--wait", str(PRE_STOP_WAIT_S)]
    container: dict[str, Any] = {
        "name": "node",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python", "-m", "storage_node"],
        "args": args,
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, *copy.deepcopy(spec.env)],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": probe,
        "lifecycle": {"preStop": {"exec": {"command": pre_stop}}},
        "livenessProbe": {
            "httpGet": {"path": "/health/live", "port": port},
            "periodSeconds": 5,
            "failureThreshold": 6,
        },
        "volumeMounts": mounts,
        "securityContext": dict(CONTAINER_SECURITY_CONTEXT),
        "resources": resources(spec),
    }
    metadata = meta.object_meta(pod_name(name), node, cname, name)
    version = image_version(container["image"])
    ours = {**metadata["labels"], **({VERSION_LABEL: version} if version else {})}
    metadata["labels"] = {**(spec.pod_labels or {}), **ours}  # the operator's labels win
    if spec.pod_annotations:
        metadata["annotations"] = dict(spec.pod_annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
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


# The pod-spec fields the StorageCluster spec passes through as they are, under the same names.
PASSED_THROUGH = {"node_selector", "tolerations", "affinity", "priority_class_name", "image_pull_secrets"}


def resources(spec: ClusterSpec) -> dict[str, Any]:
    """The node container's resources: the cluster's `resources` (``specs.DEFAULT_RESOURCES`` when unset or empty)."""
    return copy.deepcopy(spec.resources)


def spread(cluster: str) -> list[dict[str, Any]]:
    """The default spread: node pods of one cluster on different hosts where possible (preferred, not required)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": meta.pod_selector(cluster)},
        }
    ]


def placement(spec: ClusterSpec, cluster: str) -> dict[str, Any]:
    """The pod-spec fields the cluster's spec sets (scheduling, priority, pull secrets); the default spread.

    `topologySpreadConstraints` unset spreads the pods across hosts (:func:`spread`); an empty list turns that off.
    """
    passed = spec.model_dump(by_alias=True, include=PASSED_THROUGH)
    out = {k: copy.deepcopy(v) for k, v in passed.items() if v}
    given = spec.topology_spread_constraints
    constraints = spread(cluster) if given is None else copy.deepcopy(given)
    if constraints:
        out["topologySpreadConstraints"] = constraints
    return out


TEMPLATE_NODE = "node-template"  # the node a cluster's pod revision is computed for (no real node has this name)
LIVE_SETTINGS = {"concurrency", "bandwidth"}  # spec.rebalance fields the nodes take while running


def pod_revision(cluster: Mapping[str, Any], spec: ClusterSpec) -> str:
    """The revision the cluster's spec asks node pods to be at: the hash of its pod for a template node.

    Every node's pod differs only by the node's name (arguments, labels, claim), so one template stands for
    all of them: whatever `node_pod` puts in a pod is part of the revision, and changing it rolls the nodes.
    """
    cluster_meta = cluster["metadata"]
    # pushed to running nodes (reconciler.reconciling's _settings): a change needs no restart, so it is no new
    # revision; the template pod has their defaults
    defaults = {k: RebalanceSpec.model_fields[k].default for k in LIVE_SETTINGS}
    template_spec = spec.model_copy(update={"rebalance": spec.rebalance.model_copy(update=defaults)})
    template = {
        "apiVersion": meta.API_VERSION,
        "kind": "StorageNode",
        "metadata": {"name": TEMPLATE_NODE, "namespace": cluster_meta.get("namespace", ""), "uid": ""},
        "spec": {"cluster": cluster_meta["name"]},
    }
    return revisions.digest(node_pod(cluster, template_spec, template))


def revised_pod(cluster: Mapping[str, Any], spec: ClusterSpec, node: Mapping[str, Any]) -> dict[str, Any]:
    """The node's pod (`node_pod`) marked with the revision it is built at (annotation ``ferry.dev/revision``)."""
    pod = node_pod(cluster, spec, node)
    pod_meta = pod["metadata"]
    pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), revisions.ANNOTATION: pod_revision(cluster, spec)}
    return pod
