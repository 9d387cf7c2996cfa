"""The Helm chart renders what a user installing it expects, for several value sets (helm lint, helm template)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHART = Path(__file__).resolve().parents[2] / "charts" / "ferry"
Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]
Helm = Callable[..., subprocess.CompletedProcess[str]]


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {sorted(found)}"
    return next(iter(found.values()))


def operator_container(manifests: list[Manifest]) -> dict[str, Any]:
    deployment = one(manifests, "Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def rule_set(role: Manifest) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def expand(group: str, resources: list[str], verbs: list[str]) -> set[tuple[str, str, str]]:
    return {(group, r, v) for r in resources for v in verbs}


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "cluster.create=true"],
        ["--set", "cluster.create=true,operator.peering.enabled=false,metrics.service.enabled=true"],
        ["--set-json", 'operator.watchNamespaces=["storage","team-*"]'],
        ["--set-json", 'cluster={"create":true,"nodes":[{"name":"a"},{"name":"b","state":"maintenance"}]}'],
    ],
    ids=["defaults", "with-cluster", "standalone-metrics", "watch-namespaces", "named-nodes"],
)
def test_helm_lint_is_clean(helm: Helm, values: list[str]) -> None:
    proc = helm("lint", "--strict", str(CHART), *values)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_defaults_install_the_operator_only(render: Render) -> None:
    manifests = render()
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == [
        "ClusterKopfPeering",
        "ClusterRole",
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "ServiceAccount",
    ]
    assert all(m["metadata"].get("namespace") in (None, "storage") for m in manifests)


def test_operator_runs_the_one_image_with_kopf_and_its_runtime_contract(render: Render) -> None:
    manifests = render()
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = operator_container(manifests)
    assert container["image"] == "ferry:0.1.0"
    assert container["command"] == [
        "kopf",
        "run",
        "-m",
        "storage_operator",
        "--all-namespaces",
        "--liveness=http://0.0.0.0:8081/healthz",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}, "metrics bind the pod IP"
    assert env["FERRY_METRICS_PORT"]["value"] == "9090"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 9090, "health": 8081}
    assert pod["serviceAccountName"] == "ferry"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert one(manifests, "ClusterKopfPeering")["metadata"]["name"] == "default"


def test_image_tag_and_repository_follow_values(render: Render) -> None:
    manifests = render({"image": {"repository": "registry.example/team/ferry", "tag": "dev"}})
    assert operator_container(manifests)["image"] == "registry.example/team/ferry:dev"


def test_standalone_without_peering(render: Render) -> None:
    manifests = render({"operator.peering.enabled": False})
    assert operator_container(manifests)["command"][-1] == "--standalone"
    assert not of_kind(manifests, "ClusterKopfPeering")


def test_operator_rbac_is_exactly_the_least_privilege_set(render: Render) -> None:
    roles = of_kind(render(), "ClusterRole")
    expected = (
        expand("ferry.dev", ["storageclusters", "storagenodes"], ["get", "list", "watch", "patch", "update"])
        | expand("ferry.dev", ["storageclusters/status", "storagenodes/status"], ["get", "patch", "update"])
        | expand(
            "",
            ["pods", "persistentvolumeclaims", "services"],
            ["get", "list", "watch", "create", "delete", "patch"],
        )
        | expand("", ["secrets"], ["get", "create"])
        | expand("policy", ["poddisruptionbudgets"], ["get", "create", "patch"])
        | expand("", ["events"], ["create", "patch"])
        | expand("events.k8s.io", ["events"], ["create", "patch"])
        | expand("kopf.dev", ["clusterkopfpeerings", "kopfpeerings"], ["get", "list", "watch", "patch"])
        | expand("apiextensions.k8s.io", ["customresourcedefinitions"], ["get", "list", "watch"])
    )
    assert rule_set(roles["ferry-operator"]) == expected
    binding = of_kind(render(), "ClusterRoleBinding")["ferry-operator"]
    assert binding["roleRef"]["name"] == "ferry-operator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ferry", "namespace": "storage"}]


def test_people_roles_lifecycle_admin_may_turn_the_knob_viewer_only_reads(render: Render) -> None:
    roles = of_kind(render(), "ClusterRole")
    admin = rule_set(roles["ferry-lifecycle-admin"])
    viewer = rule_set(roles["ferry-viewer"])
    assert ("ferry.dev", "storagenodes", "patch") in admin
    assert ("ferry.dev", "storageclusters", "patch") in admin
    assert {("ferry.dev", "storagenodes", v) for v in ("create", "delete")} <= admin
    assert not any(r.endswith("/status") for _, r, _ in admin), "people must not write the operator's status"
    assert {v for _, _, v in viewer} == {"get", "list", "watch"}
    assert {g for g, _, _ in admin | viewer} == {"ferry.dev"}


def test_people_roles_bound_to_given_users_and_groups(render: Render) -> None:
    manifests = render({"rbac.lifecycleAdmins": {"users": ["alice"], "groups": ["storage-ops"]}})
    bindings = of_kind(manifests, "ClusterRoleBinding")
    assert "ferry-viewer" not in bindings
    assert bindings["ferry-lifecycle-admin"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "storage-ops"},
    ]


def test_rbac_can_be_left_to_the_cluster_admin(render: Render) -> None:
    manifests = render({"rbac": {"create": False, "userRoles": False}, "serviceAccount.create": False})
    assert not of_kind(manifests, "ClusterRole")
    assert not of_kind(manifests, "ServiceAccount")
    assert one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_cluster_from_values_with_node_count(render: Render) -> None:
    manifests = render(
        {
            "cluster": {
                "create": True,
                "name": "objects",
                "nodeCount": 4,
                "auth": {"enabled": False},
                "storage": {"size": "10Gi", "storageClassName": "fast"},
                "rebalance": {"concurrency": 2, "bandwidth": 104857600},
                "resources": {"requests": {"cpu": "250m"}},
            }
        }
    )
    cluster = one(manifests, "StorageCluster")
    assert cluster["metadata"]["name"] == "objects"
    assert cluster["spec"]["image"] == "ferry:0.1.0"
    assert cluster["spec"]["auth"] == {"enabled": False}
    assert cluster["spec"]["storage"] == {"size": "10Gi", "storageClassName": "fast", "mountpaths": 2}
    assert cluster["spec"]["rebalance"] == {"enabled": True, "concurrency": 2, "bandwidth": 104857600}
    assert cluster["spec"]["resources"] == {"requests": {"cpu": "250m"}}
    nodes = of_kind(manifests, "StorageNode")
    assert sorted(nodes) == ["objects-node-1", "objects-node-2", "objects-node-3", "objects-node-4"]
    assert {n["spec"]["cluster"] for n in nodes.values()} == {"objects"}
    assert {n["spec"]["state"] for n in nodes.values()} == {"online"}


def test_cluster_values_pass_the_node_pod_fields_to_the_storage_cluster(render: Render) -> None:
    pod_fields: dict[str, Any] = {
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
        ],
        "priorityClassName": "storage",
        "imagePullSecrets": [{"name": "regcred"}],
        "podLabels": {"team": "storage"},
        "podAnnotations": {"example.com/owner": "storage-team"},
    }
    spec = one(render({"cluster": {"create": True, **pod_fields}}), "StorageCluster")["spec"]
    assert {k: spec.get(k) for k in pod_fields} == pod_fields
    plain = one(render({"cluster.create": True}), "StorageCluster")["spec"]
    assert not set(plain) & set(pod_fields), "unset values leave the operator's defaults in place"


def test_cluster_name_defaults_to_the_release(render: Render) -> None:
    manifests = render({"cluster.create": True}, release="blue")
    assert one(manifests, "StorageCluster")["metadata"]["name"] == "blue"
    assert sorted(of_kind(manifests, "StorageNode")) == ["blue-node-1", "blue-node-2", "blue-node-3"]


def test_changing_one_node_state_in_values_changes_only_that_node(render: Render) -> None:
    before = of_kind(render({"cluster.create": True}), "StorageNode")
    after = of_kind(
        render({"cluster.create": True, "cluster.nodeStates": {"ferry-node-2": "maintenance"}}), "StorageNode"
    )
    assert after["ferry-node-2"]["spec"]["state"] == "maintenance"
    assert {k: v for k, v in after.items() if k != "ferry-node-2"} == {
        k: v for k, v in before.items() if k != "ferry-node-2"
    }


def test_named_nodes_with_per_node_options(render: Render) -> None:
    manifests = render(
        {
            "cluster.create": True,
            "cluster.nodes": [
                {"name": "alpha"},
                {"name": "beta", "state": "maintenance"},
                {"name": "gamma", "state": "shutdown", "rmUserData": True, "skipRebalance": True},
            ],
            "cluster.nodeStates": {"alpha": "maintenance"},
        }
    )
    nodes = of_kind(manifests, "StorageNode")
    assert {n: m["spec"]["state"] for n, m in nodes.items()} == {
        "alpha": "maintenance",
        "beta": "maintenance",
        "gamma": "shutdown",
    }
    assert nodes["gamma"]["spec"] == {
        "cluster": "ferry",
        "state": "shutdown",
        "rmUserData": True,
        "skipRebalance": True,
        "forceRemove": False,
    }


def test_cluster_and_nodes_survive_helm_uninstall(render: Render) -> None:
    manifests = render({"cluster.create": True})
    data_bearing = [m for m in manifests if m["kind"] in ("StorageCluster", "StorageNode")]
    assert len(data_bearing) == 4
    for m in data_bearing:
        assert m["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", m["metadata"]["name"]


def test_helm_test_hook_checks_the_cluster_with_the_ferry_image(render: Render) -> None:
    manifests = render({"cluster.create": True})
    hooks = [m for m in manifests if m["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    pods = [m for m in hooks if m["kind"] == "Pod"]
    assert len(pods) == 1
    container = pods[0]["spec"]["containers"][0]
    assert pods[0]["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation", "--logs"
    assert container["image"] == "ferry:0.1.0"
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [(CHART / "files" / "cluster_check.py").read_text()]
    assert {e["name"]: e["value"] for e in container["env"]} == {"FERRY_NAMESPACE": "storage", "FERRY_CLUSTER": "ferry"}
    role = next(m for m in hooks if m["kind"] == "Role")
    assert {v for _, _, v in rule_set(role)} == {"get", "list"}
    assert not [m for m in render() if m["kind"] == "Pod"], "no test hook without a cluster"


def test_the_helm_test_script_is_valid_python() -> None:
    compile((CHART / "files" / "cluster_check.py").read_text(), "cluster_check.py", "exec")


def test_metrics_service_points_at_the_operator(render: Render) -> None:
    manifests = render({"metrics.service.enabled": True})
    service = one(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_a_decommissioned_node_renders_on_upgrade(render: Render) -> None:
    manifests = render(
        {"cluster.create": True, "cluster.nodeStates": {"ferry-node-3": "decommissioned"}}, "--is-upgrade"
    )
    assert of_kind(manifests, "StorageNode")["ferry-node-3"]["spec"]["state"] == "decommissioned"


def test_operator_watches_only_the_given_namespaces(render: Render) -> None:
    manifests = render({"operator.watchNamespaces": ["storage", "team-a"]})
    command = operator_container(manifests)["command"]
    assert "--all-namespaces" not in command
    assert [a for a in command if a.startswith("--namespace")] == ["--namespace=storage", "--namespace=team-a"]
    peerings = [m for m in manifests if m["kind"] in ("KopfPeering", "ClusterKopfPeering")]
    assert sorted((m["kind"], m["metadata"]["namespace"], m["metadata"]["name"]) for m in peerings) == [
        ("KopfPeering", "storage", "default"),
        ("KopfPeering", "team-a", "default"),
    ]
    rules = rule_set(of_kind(manifests, "ClusterRole")["ferry-operator"])
    # kopf lists namespaces in every namespaced mode; without the right it stalls ~1 min at start
    assert {r for r in rules if r[1] == "namespaces"} == expand("", ["namespaces"], ["get", "list", "watch"])


def test_namespace_patterns_let_the_operator_find_matching_namespaces(render: Render) -> None:
    manifests = render({"operator.watchNamespaces": ["storage-*", "!storage-test"]})
    command = operator_container(manifests)["command"]
    assert [a for a in command if a.startswith("--namespace")] == [
        "--namespace=storage-*",
        "--namespace=!storage-test",
    ]
    rules = rule_set(of_kind(manifests, "ClusterRole")["ferry-operator"])
    assert {r for r in rules if r[1] == "namespaces"} == expand("", ["namespaces"], ["get", "list", "watch"])
    assert not [m for m in manifests if m["kind"] in ("KopfPeering", "ClusterKopfPeering")]


def test_restricted_standalone_operator_has_no_peering(render: Render) -> None:
    manifests = render({"operator.watchNamespaces": ["storage"], "operator.peering.enabled": False})
    assert operator_container(manifests)["command"][-1] == "--standalone"
    assert not [m for m in manifests if m["kind"] in ("KopfPeering", "ClusterKopfPeering")]
