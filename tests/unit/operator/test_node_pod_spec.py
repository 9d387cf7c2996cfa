"""What a StorageCluster's spec puts into its node pods: defaults, pass-through fields, labels, stable selectors."""

from __future__ import annotations

from typing import Any

import pytest
from storage_operator.model import specs
from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import disruption_budgets, meta, pods

NODE = {
    "apiVersion": "ferry.dev/v1alpha1",
    "kind": "StorageNode",
    "metadata": {"name": "n1", "namespace": "ns", "uid": "u-n"},
    "spec": {"cluster": "c1"},
}


def cluster(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageCluster",
        "metadata": {"name": "c1", "namespace": "ns", "uid": "u-c"},
        "spec": spec,
    }


def pod(**spec: Any) -> dict[str, Any]:
    c = cluster(**spec)
    return pods.node_pod(c, ClusterSpec.of(c), NODE)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_a_plain_cluster_gets_requests_a_host_spread_and_the_restricted_security_context() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}, "not BestEffort"
    assert p["spec"]["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": meta.pod_selector("c1")},
        }
    ]
    sc, csc = p["spec"]["securityContext"], c["securityContext"]
    assert sc["runAsNonRoot"] and sc["fsGroup"] == pods.NODE_UID
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    for absent in ("nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"):
        assert absent not in p["spec"]
    assert "annotations" not in p["metadata"]


def test_the_spec_fields_reach_the_pod_under_their_kubernetes_names() -> None:
    given: dict[str, Any] = {
        "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ferry", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
        "topologySpreadConstraints": [
            {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
        ],
        "priorityClassName": "storage",
        "imagePullSecrets": [{"name": "regcred"}],
        "podAnnotations": {"example.com/team": "storage"},
    }
    p = pod(**given)
    assert p["spec"]["containers"][0]["resources"] == given["resources"], "the user's value replaces the default"
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"):
        assert p["spec"][key] == given[key], key
    assert p["spec"]["priorityClassName"] == "storage"
    assert p["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert p["metadata"]["annotations"] == {"example.com/team": "storage"}
    p["spec"]["nodeSelector"]["disk"] = "hdd"
    assert given["nodeSelector"] == {"disk": "ssd"}, "the pod is a copy: the cluster's spec is left as it was"


def test_an_empty_spread_list_turns_the_default_off_and_empty_resources_keep_the_default() -> None:
    p = pod(topologySpreadConstraints=[], resources={})
    assert "topologySpreadConstraints" not in p["spec"]
    assert p["spec"]["containers"][0]["resources"] == specs.DEFAULT_RESOURCES


def test_pods_carry_the_recommended_labels_and_the_operators_labels_win_over_the_users() -> None:
    mine = {
        "team": "storage",
        "app.kubernetes.io/name": "mine",
        "app.kubernetes.io/version": "0",
        meta.CLUSTER_LABEL: "other",
    }
    labels = pod(image="registry.example:5000/ferry/node:1.4.2", podLabels=mine)["metadata"]["labels"]
    assert labels == {
        "team": "storage",
        "app.kubernetes.io/name": "ferry-storage-node",
        "app.kubernetes.io/instance": "c1",
        "app.kubernetes.io/component": "storage-node",
        "app.kubernetes.io/part-of": "ferry",
        "app.kubernetes.io/version": "1.4.2",
        "app.kubernetes.io/managed-by": "ferry-operator",
        meta.CLUSTER_LABEL: "c1",
        meta.NODE_LABEL: "n1",
    }


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ferry:dev", "dev"),
        ("ferry", "latest"),
        ("registry.example:5000/ferry", "latest"),
        ("ferry:1.0@sha256:" + "a" * 64, "1.0"),
        ("ferry@sha256:" + "a" * 64, None),
        ("ferry:_" + "x" * 80, "x" * 62),
    ],
)
def test_the_version_label_is_the_image_tag_as_a_valid_label_value(image: str, version: str | None) -> None:
    assert pods.image_version(image) == version
    assert pod(image=image)["metadata"]["labels"].get("app.kubernetes.io/version") == version


def test_the_selectors_pick_every_node_pod_of_the_cluster_whatever_its_image_or_user_labels() -> None:
    old = pod(image="ferry:1.0")
    new = pod(image="ferry:2.0", podLabels={"team": "x"})
    other = pods.node_pod(
        {**cluster(), "metadata": {"name": "c2", "namespace": "ns", "uid": "u2"}}, ClusterSpec(), NODE
    )
    budget = disruption_budgets.node_budget(cluster(), 2)
    selector = budget["spec"]["selector"]["matchLabels"]
    spread = new["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    for sel in (selector, spread):
        assert matches(sel, old["metadata"]["labels"]) and matches(sel, new["metadata"]["labels"])
        assert not matches(sel, other["metadata"]["labels"])
        assert "app.kubernetes.io/version" not in sel
    # the labels the first releases put on node pods: those pods are selected after the operator's upgrade
    first_release = {
        "app.kubernetes.io/name": "ferry-storage-node",
        "app.kubernetes.io/managed-by": "ferry-operator",
        "app.kubernetes.io/instance": "c1",
        meta.CLUSTER_LABEL: "c1",
        meta.NODE_LABEL: "n1",
    }
    assert matches(selector, first_release)


def test_the_budget_is_owned_by_the_cluster_and_named_after_it() -> None:
    budget = disruption_budgets.node_budget(cluster(), 2)
    assert budget["apiVersion"] == "policy/v1" and budget["kind"] == "PodDisruptionBudget"
    assert budget["metadata"]["name"] == "c1-nodes" and budget["metadata"]["namespace"] == "ns"
    assert budget["metadata"]["ownerReferences"][0]["uid"] == "u-c"
    assert budget["spec"]["minAvailable"] == 2


def test_a_pod_being_deleted_fails_readiness_first_and_serves_on_within_its_grace() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    command = c["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:3] == ["python", "-m", "storage_node.prestop"]
    state_dir = c["args"][c["args"].index("--state-dir") + 1]
    assert command[command.index("--state-dir") + 1] == state_dir, "it marks the state dir the node reads"
    wait = float(command[command.index("--wait") + 1])
    probe = c["readinessProbe"]
    # Ready turns false only after `failureThreshold` failed probes: the wait covers them, with a margin
    assert wait > probe["periodSeconds"] * probe["failureThreshold"]
    shutdown = 5  # the node's own graceful shutdown (storage_node.serving)
    assert p["spec"]["terminationGracePeriodSeconds"] >= wait + shutdown + 5
