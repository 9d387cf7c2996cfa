"""Test-side helpers for the operator e2e tests: a StorageCluster driven with kubectl, and its data."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from storage_node import auth
from storage_node.client import NodeError, SyncNodeClient
from storage_node.schemas import ClusterMap, NodeStatus

SIZES = (0, 100, 4096, 65_536, 300_000, 1_048_576)


class Kubectl(Protocol):
    """The `kube` fixture's kubectl runner."""

    def __call__(
        self, *args: str, user: str | None = None, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 120.0, interval: float = 0.3) -> None:
    """Poll `predicate` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def restricted(kubectl: Kubectl, namespace: str) -> None:
    """Label `namespace` so that the API server admits only pods that pass Pod Security "restricted"."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", "--overwrite")


def node_manifest(name: str, cluster: str, state: str = "online", **spec: Any) -> dict[str, Any]:
    """A StorageNode manifest."""
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageNode",
        "metadata": {"name": name},
        "spec": {"cluster": cluster, "state": state, **spec},
    }


@dataclass
class Dataset:
    """Objects written by a test, with the checksums (sha256 of the bytes) to verify them by."""

    bucket: str
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class Ferry:
    """One StorageCluster in its own namespace, driven like a user would (kubectl) and read like a client."""

    kubectl_: Kubectl
    namespace: str
    cluster: str = "c1"

    def kubectl(
        self, *args: str, user: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """kubectl in this namespace."""
        return self.kubectl_("-n", self.namespace, *args, user=user, check=check, timeout=timeout)

    def apply(self, *manifests: dict[str, Any]) -> None:
        """kubectl apply of manifests given as dicts."""
        doc = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        path = Path(f"/tmp/ferry-e2e-{self.namespace}-{os.getpid()}.json")
        path.write_text(json.dumps(doc))
        try:
            self.kubectl("apply", "-f", str(path))
        finally:
            path.unlink()

    def create(self, nodes: list[str], cluster_spec: dict[str, Any] | None = None) -> None:
        """Create the namespace, the StorageCluster and its nodes; wait until every node is Ready."""
        self.kubectl_("create", "namespace", self.namespace)
        restricted(self.kubectl_, self.namespace)
        cluster = {
            "apiVersion": "ferry.dev/v1alpha1",
            "kind": "StorageCluster",
            "metadata": {"name": self.cluster},
            "spec": cluster_spec or {},
        }
        self.apply(cluster, *(node_manifest(n, self.cluster) for n in nodes))
        for n in nodes:
            self.wait_ready(n)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """An object as JSON."""
        return dict(json.loads(self.kubectl("get", kind, name, "-o", "json").stdout))

    def exists(self, kind: str, name: str) -> bool:
        """Whether the object exists."""
        return self.kubectl("get", kind, name, "--ignore-not-found", "-o", "name").stdout.strip() != ""

    def node(self, name: str) -> dict[str, Any]:
        """A StorageNode."""
        return self.get("storagenode", name)

    def status(self, name: str) -> dict[str, Any]:
        """A StorageNode's status."""
        return dict(self.node(name).get("status") or {})

    def cluster_status(self) -> dict[str, Any]:
        """The StorageCluster's status."""
        return dict(self.get("storagecluster", self.cluster).get("status") or {})

    def cluster_map(self) -> ClusterMap:
        """The authoritative cluster map (from the StorageCluster status)."""
        raw = self.cluster_status()["map"]
        nodes = {n["id"]: {"id": n["id"], "url": n["url"], "flags": n["flags"]} for n in raw["nodes"]}
        return ClusterMap.model_validate(
            {
                "version": raw["version"],
                "rebalance_id": raw.get("rebalanceId"),
                "nodes": nodes,
                "copies": raw.get("copies", 1),
            }
        )

    def patch_state(self, name: str, state: str, user: str | None = None, **extra: Any) -> None:
        """kubectl patch storagenode NAME spec.state (and other spec fields)."""
        body = json.dumps({"spec": {"state": state, **extra}})
        self.kubectl("patch", "storagenode", name, "--type", "merge", "-p", body, user=user)

    def wait_ready(self, name: str, timeout: int = 180) -> None:
        """kubectl wait --for=condition=Ready: the whole transition is done (on timeout, what the node shows)."""
        args = ("wait", "--for=condition=Ready", f"storagenode/{name}", f"--timeout={timeout}s")
        if self.kubectl(*args, timeout=timeout + 30, check=False).returncode == 0:
            return
        status = self.status(name)
        pods = self.kubectl("get", "pods", "-o", "wide", check=False).stdout
        shown = {k: status.get(k) for k in ("phase", "state", "conditions")}
        raise AssertionError(f"{name} not Ready within {timeout}s: {json.dumps(shown)}\n{pods}")

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> None:
        """Wait until the node shows `phase`."""
        wait_until(f"{name} in phase {phase}", lambda: self.status(name).get("phase") == phase, timeout)

    def pod_exists(self, name: str) -> bool:
        """Whether the node's pod exists."""
        return self.exists("pod", f"{name}-pod")

    def pod_staying(self, name: str) -> bool:
        """Whether the node's pod exists and is not being deleted (one read)."""
        out = self.kubectl("get", "pod", f"{name}-pod", "--ignore-not-found", "-o", "json").stdout.strip()
        return bool(out) and not json.loads(out)["metadata"].get("deletionTimestamp")

    def evict(self, pod: str) -> subprocess.CompletedProcess[str]:
        """The Eviction API on a pod (what `kubectl drain` calls); not checked: a refusal is an answer too."""
        meta = {"name": pod, "namespace": self.namespace}
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": meta}
        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}/eviction"
        return self.kubectl_("create", "--raw", path, "-f", "-", input=json.dumps(eviction), check=False)

    def budget(self) -> dict[str, Any]:
        """The node pods' PodDisruptionBudget (kept by the operator)."""
        return self.get("poddisruptionbudget", f"{self.cluster}-nodes")

    def disruptions_allowed(self) -> int | None:
        """How many node pods the budget lets go now (None before the disruption controller saw its last change)."""
        if not self.exists("poddisruptionbudget", f"{self.cluster}-nodes"):
            return None
        pdb = self.budget()
        st = pdb.get("status") or {}
        if st.get("observedGeneration") != pdb["metadata"].get("generation"):
            return None
        return int(st.get("disruptionsAllowed", 0))

    # -- data ------------------------------------------------------------------------------------

    def secret(self) -> str:
        """The cluster's token-signing key, read from its Secret like an admin would."""
        out = self.kubectl("get", "secret", f"{self.cluster}-auth", "-o", "jsonpath={.data.secret}").stdout
        return base64.b64decode(out).decode()

    def addresses(self) -> dict[str, str]:
        """Addresses of the nodes whose pods answer, from the StorageNode statuses."""
        out: dict[str, str] = {}
        for item in json.loads(self.kubectl("get", "storagenodes", "-o", "json").stdout)["items"]:
            st = item.get("status") or {}
            if st.get("address") and self.pod_exists(item["metadata"]["name"]):
                out[item["metadata"]["name"]] = st["address"]
        return out

    @contextmanager
    def client(self, node: str, address: str | None = None) -> Iterator[SyncNodeClient]:
        """A data+admin client of one node (at `address` if given, read once by the caller), with an admin token."""
        with SyncNodeClient(address or self.addresses()[node], token=auth.issue_token(self.secret())) as c:
            yield c

    def node_status(self, node: str, address: str | None = None) -> NodeStatus:
        """The node's own report (objects it holds, its map, its rebalance)."""
        with self.client(node, address) as c:
            return c.status()

    def write(
        self,
        count: int,
        bucket: str = "data",
        seed: int = 1,
        via: str | None = None,
        sizes: tuple[int, ...] = SIZES,
    ) -> Dataset:
        """Write `count` objects of mixed sizes (names with '/' and UTF-8) and record their checksums."""
        rnd = random.Random(seed)
        ds = Dataset(bucket)
        node = via or sorted(self.addresses())[0]
        with self.client(node) as c:
            c.create_bucket(bucket)
            for i in range(count):
                data = rnd.randbytes(rnd.choice(sizes))
                name = f"dir-{i % 7}/obj-{i}-ü"
                c.put_object(bucket, name, data)
                ds.digests[name] = hashlib.sha256(data).hexdigest()
        return ds

    def verify(self, ds: Dataset, nodes: list[str] | None = None) -> None:
        """Every object is readable from every (given) node with its original bytes."""
        for node in nodes or sorted(self.addresses()):
            with self.client(node) as c:
                for name, digest in ds.digests.items():
                    got = c.get_object(ds.bucket, name)
                    assert hashlib.sha256(got.data).hexdigest() == digest, f"{name} via {node}"

    def holdings(self) -> dict[str, int]:
        """How many objects each running node holds on its own mountpaths (a pod deleted meanwhile left out)."""
        held: dict[str, int] = {}
        for n, a in self.addresses().items():
            try:
                held[n] = self.node_status(n, a).objects
            except NodeError:
                if self.pod_staying(n):
                    raise
        return held
