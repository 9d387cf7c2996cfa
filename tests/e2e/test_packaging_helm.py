"""The chart on the local cluster: install, nodes online, upgrade as a state change, helm test, uninstall keeps data."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from localkube.cluster import Cluster

from tests.e2e.operator.ferry_e2e import Ferry, wait_until

pytestmark = pytest.mark.e2e

CHART = Path(__file__).resolve().parents[2] / "charts" / "ferry"
RELEASE = "store"  # the StorageCluster is named after the release: nodes store-node-1..3
NODES = [f"{RELEASE}-node-{i}" for i in (1, 2, 3)]
OPERATOR = "app.kubernetes.io/component=operator"


def helm(kube: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The pinned helm against the local cluster; the test fails with helm's output when helm does."""
    proc = subprocess.run(
        [str(kube.bin_dir / "helm"), *args], env=kube.env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def settled(ferry: Ferry, node: str, state: str) -> bool:
    """The node shows `state` and Ready for the latest spec (the operator observed the newest generation)."""
    body = ferry.node(node)
    status: dict[str, Any] = body.get("status") or {}
    generation = body["metadata"]["generation"]
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return (
        status.get("observedGeneration") == generation
        and status.get("state") == state
        and bool(ready)
        and ready[0]["status"] == "True"
        and ready[0].get("observedGeneration") == generation
    )


def operator_pods(kube: Cluster, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get_json("pods", "-n", namespace, "-l", OPERATOR)["items"]
    return items


def remove_everything(kube: Cluster, namespace: str) -> None:
    """Delete the namespace; with no operator left, drop its finalizers so that nothing blocks the deletion."""
    subprocess.run(
        [str(kube.bin_dir / "helm"), "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "60s"],
        env=kube.env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    for kind in ("storagenodes", "storageclusters"):
        names = kube.kubectl("get", kind, "-n", namespace, "-o", "name", check=False).stdout.split()
        for name in names:
            patch = '{"metadata":{"finalizers":null}}'
            kube.kubectl("patch", name, "-n", namespace, "--type", "merge", "-p", patch, check=False)
    kube.kubectl("delete", "namespace", namespace, "--timeout=120s", check=False, timeout=150)


def test_helm_install_upgrade_test_uninstall(kube: Cluster) -> None:
    namespace = f"helm-{uuid.uuid4().hex[:8]}"
    ferry = Ferry(kube.kubectl, namespace=namespace, cluster=RELEASE)
    try:
        helm(
            kube,
            "install",
            RELEASE,
            str(CHART),
            "-n",
            namespace,
            "--create-namespace",
            "--set",
            "cluster.create=true,cluster.nodeCount=3,image.tag=dev",
            "--set-json",
            f'operator.watchNamespaces=["{namespace}"]',
            "--wait",
            "--timeout",
            "3m",
        )

        # the operator runs as a pod, for this namespace only, and brings every node online
        pods = operator_pods(kube, namespace)
        assert [p["status"]["phase"] for p in pods] == ["Running"]
        assert f"--namespace={namespace}" in pods[0]["spec"]["containers"][0]["command"]
        ferry.kubectl("wait", "--for=condition=Ready", "storagenode", "--all", "--timeout=240s", timeout=270)
        for node in NODES:
            assert settled(ferry, node, "online"), ferry.status(node)
        assert ferry.cluster_status()["phase"] == "Ready"
        data = ferry.write(40, bucket="helm")
        ferry.verify(data)

        # a state change through helm upgrade is carried out: the node is in maintenance and holds nothing
        helm(
            kube,
            "upgrade",
            RELEASE,
            str(CHART),
            "-n",
            namespace,
            "--reuse-values",
            "--set",
            f"cluster.nodeStates.{NODES[1]}=maintenance",
            "--wait",
            "--timeout",
            "3m",
        )
        assert ferry.node(NODES[1])["spec"]["state"] == "maintenance"
        wait_until(f"{NODES[1]} Ready in maintenance", lambda: settled(ferry, NODES[1], "maintenance"), timeout=240)
        assert ferry.holdings()[NODES[1]] == 0
        # the chart's default cluster.redundancy.copies is 2: each object on both nodes that stay in placement
        assert sum(ferry.holdings().values()) == 2 * len(data.digests)
        ferry.verify(data)

        # helm test: every online node answers and a written object reads back
        tested = helm(kube, "test", RELEASE, "-n", namespace, "--logs", "--timeout", "3m")
        assert "OK: 2 online node(s)" in tested.stdout, tested.stdout

        # helm uninstall: the operator goes, the cluster, its nodes and their volumes (the data) stay
        helm(kube, "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "2m")
        wait_until("the operator pod gone", lambda: not operator_pods(kube, namespace), timeout=120)
        assert ferry.exists("storagecluster", RELEASE)
        assert sorted(n["metadata"]["name"] for n in kube.get_json("storagenodes", "-n", namespace)["items"]) == NODES
        claims = kube.get_json("pvc", "-n", namespace)["items"]
        assert claims and {c["status"]["phase"] for c in claims} == {"Bound"}
        ferry.verify(data)
    finally:
        remove_everything(kube, namespace)
    assert kube.kubectl("get", "namespace", namespace, check=False).returncode != 0, "namespace not removed"
    left = [r["metadata"]["name"] for r in kube.get_json("clusterroles")["items"]]
    assert not [r for r in left if r.startswith(f"{RELEASE}-ferry")], "the release's ClusterRoles outlived it"
