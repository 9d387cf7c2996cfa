"""What the StorageCluster spec gives its node pods on a real kubelet, and what the API server refuses in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.operator.ferry_e2e import Ferry, node_manifest, restricted, wait_until

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2"]
TOLERATION = {"key": "ferry.dev/dedicated", "operator": "Exists", "effect": "NoSchedule"}
SPEC: dict[str, Any] = {
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [TOLERATION],
    "podLabels": {"team": "storage", "app.kubernetes.io/name": "not-ours"},
    "podAnnotations": {"example.com/owner": "storage-team"},
}


def test_node_pods_carry_the_clusters_placement_labels_and_resources_and_bad_values_are_refused(
    ferry: Ferry,
) -> None:
    ferry.create(NODES, cluster_spec=SPEC)
    for n in NODES:
        pod = ferry.get("pod", f"{n}-pod")
        spec, labels = pod["spec"], pod["metadata"]["labels"]
        assert spec["containers"][0]["resources"] == SPEC["resources"]
        assert pod["status"]["qosClass"] == "Burstable", "not BestEffort"
        assert spec["nodeSelector"] == SPEC["nodeSelector"]
        assert TOLERATION in spec["tolerations"]
        assert spec["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname", "the default spread"
        assert labels["team"] == "storage"
        assert labels["app.kubernetes.io/name"] == "ferry-storage-node", "the operator's label wins"
        assert labels["app.kubernetes.io/component"] == "storage-node"
        assert labels["app.kubernetes.io/part-of"] == "ferry"
        assert labels["app.kubernetes.io/version"] == "dev", "the tag of ferry:dev"
        assert pod["metadata"]["annotations"]["example.com/owner"] == "storage-team"
    # the pass that formed the cluster may still count it as changing: the budget loosens on the next one
    wait_until("the budget to allow one disruption", lambda: ferry.budget()["spec"]["minAvailable"] == len(NODES) - 1)
    budget = ferry.budget()
    assert budget["metadata"]["ownerReferences"][0]["kind"] == "StorageCluster"
    wait_until("the budget counts both node pods", lambda: ferry.disruptions_allowed() == 1)
    assert ferry.budget()["status"]["expectedPods"] == len(NODES)

    bad = {
        "tolerations": [{**TOLERATION, "tolerationSeconds": "soon"}],
        "resources": {"requests": {"memory": "lots"}},
        "podLabels": {"team": "not a label value"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}],
    }
    for field, value in bad.items():
        patch = json.dumps({"spec": {field: value}})
        out = ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", patch, check=False)
        assert out.returncode != 0, f"{field}={value!r} was accepted"
        assert "Invalid value" in out.stderr and f"spec.{field}" in out.stderr, out.stderr
    spec = ferry.get("storagecluster", ferry.cluster)["spec"]
    assert {k: spec[k] for k in SPEC} == SPEC, "nothing of the refused changes was stored"


def test_a_pod_the_api_server_rejects_is_a_warning_on_its_node_until_the_spec_is_fixed(ferry: Ferry) -> None:
    term = {"matchExpressions": [{"key": "disk", "operator": "Bogus", "values": ["ssd"]}]}
    bad_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    ferry.kubectl_("create", "namespace", ferry.namespace)
    restricted(ferry.kubectl_, ferry.namespace)
    cluster = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageCluster",
        "metadata": {"name": ferry.cluster},
        "spec": {"affinity": bad_affinity},
    }
    ferry.apply(cluster, node_manifest("node-1", ferry.cluster))

    def rejections() -> list[str]:
        out = ferry.kubectl("get", "events", "--field-selector", "involvedObject.name=node-1", "-o", "json").stdout
        return [e["message"] for e in json.loads(out)["items"] if e.get("reason") == "PodRejected"]

    wait_until("a PodRejected warning on node-1", lambda: bool(rejections()), timeout=60)
    assert "Bogus" in rejections()[0], rejections()
    assert not ferry.pod_exists("node-1")

    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", '{"spec":{"affinity":null}}')
    ferry.wait_ready("node-1")
    assert ferry.pod_exists("node-1")
