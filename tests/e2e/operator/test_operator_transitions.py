"""Every node transition of DESIGN.md, end to end: kubectl patch -> map, rebalance, pods -> kubectl wait."""

from __future__ import annotations

import pytest
from localkube.cluster import Cluster
from storage_node.schemas import rebalance_number

from tests.e2e.operator.disks import objects_in, volume_dir
from tests.e2e.operator.ferry_e2e import Ferry, node_manifest, wait_until

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
COUNT = 150


def test_maintenance_drains_the_node_and_stop_maintenance_brings_its_share_back(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    before = ferry.cluster_map()

    ferry.patch_state("node-2", "maintenance")
    ferry.wait_ready("node-2")

    after = ferry.cluster_map()
    assert after.version > before.version
    assert [f.value for f in after.nodes["node-2"].flags] == ["maintenance"]
    assert ferry.status("node-2")["state"] == "maintenance"
    assert ferry.pod_exists("node-2"), "a node in maintenance keeps its pod"
    held = ferry.holdings()
    assert held["node-2"] == 0 and sum(held.values()) == COUNT
    ferry.verify(ds)

    ferry.patch_state("node-2", "online")
    ferry.wait_ready("node-2")
    assert ferry.cluster_map().nodes["node-2"].flags == []
    held = ferry.holdings()
    assert held["node-2"] > 0 and sum(held.values()) == COUNT
    ferry.verify(ds)


def test_shutdown_then_restart_to_maintenance_then_online(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)

    ferry.patch_state("node-3", "shutdown")
    ferry.wait_ready("node-3")
    assert not ferry.pod_exists("node-3"), "shutdown removes the pod after the rebalance"
    assert "node-3" in ferry.cluster_map().nodes, "a shut-down node stays in the map"
    assert ferry.status("node-3")["state"] == "shutdown"
    ferry.verify(ds)

    ferry.patch_state("node-3", "maintenance")  # RESTART
    ferry.wait_ready("node-3")
    assert ferry.pod_exists("node-3")
    assert ferry.holdings()["node-3"] == 0

    ferry.patch_state("node-3", "online")  # stop-maintenance
    ferry.wait_ready("node-3")
    held = ferry.holdings()
    assert held["node-3"] > 0 and sum(held.values()) == COUNT
    ferry.verify(ds)


def test_decommission_keeps_the_volume_without_rm_user_data_and_is_terminal(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)

    ferry.patch_state("node-1", "decommissioned")
    ferry.wait_ready("node-1")
    assert "node-1" not in ferry.cluster_map().nodes
    assert ferry.status("node-1")["state"] == "decommissioned"
    wait_until("the pod is gone", lambda: not ferry.pod_exists("node-1"))
    claim = ferry.get("pvc", "node-1-data")
    assert not claim["metadata"].get("ownerReferences"), "the kept volume no longer dies with its StorageNode"
    assert sum(ferry.holdings().values()) == COUNT
    ferry.verify(ds)

    rejected = ferry.kubectl(
        "patch", "storagenode", "node-1", "--type", "merge", "-p", '{"spec":{"state":"online"}}', check=False
    )
    assert rejected.returncode != 0
    assert "decommissioned is terminal" in rejected.stderr


def test_decommission_with_rm_user_data_deletes_the_volume(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    volume = volume_dir(kube, ferry, "node-2")
    assert objects_in(volume), "node-2's volume held objects"
    ferry.patch_state("node-2", "decommissioned", rmUserData=True)
    ferry.wait_ready("node-2")
    wait_until("the volume claim is deleted", lambda: not ferry.exists("pvc", "node-2-data"))
    wait_until("nothing of the volume is left on the machine", lambda: not volume.exists())
    assert "node-2" not in ferry.cluster_map().nodes
    ferry.verify(ds)


def test_a_new_node_joins_and_the_rebalance_fills_it(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.apply(node_manifest("node-4", ferry.cluster))
    ferry.wait_ready("node-4")
    assert ferry.cluster_map().nodes["node-4"].flags == []
    held = ferry.holdings()
    assert sum(held.values()) == COUNT
    assert COUNT // 8 < held["node-4"] < COUNT // 2, held
    ferry.verify(ds)


def test_new_nodes_applied_together_join_together(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    before = ferry.cluster_map()
    new = ["node-4", "node-5", "node-6"]
    ferry.apply(*(node_manifest(n, ferry.cluster) for n in new))
    for n in new:
        ferry.wait_ready(n)
    after = ferry.cluster_map()
    assert all(after.nodes[n].flags == [] for n in new)
    # one at a time would take three map versions with three rebalances; together they share one
    assert rebalance_number(after.rebalance_id) - rebalance_number(before.rebalance_id) < len(new), after
    held = ferry.holdings()
    assert sum(held.values()) == COUNT
    assert all(held[n] > 0 for n in new), held
    ferry.verify(ds)


def test_a_node_created_in_maintenance_is_a_standby_until_set_online(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.apply(node_manifest("standby", ferry.cluster, state="maintenance"))
    ferry.wait_ready("standby")
    assert ferry.holdings()["standby"] == 0
    ferry.patch_state("standby", "online")
    ferry.wait_ready("standby")
    assert ferry.holdings()["standby"] > 0
    ferry.verify(ds)


def test_kubectl_delete_drains_the_node_first(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.kubectl("delete", "storagenode", "node-2", "--timeout=180s", timeout=210)
    assert not ferry.exists("storagenode", "node-2")
    assert "node-2" not in ferry.cluster_map().nodes
    assert sum(ferry.holdings().values()) == COUNT
    ferry.verify(ds)


def test_skip_rebalance_is_an_explicit_opt_out_with_a_warning(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    held = ferry.holdings()["node-1"]
    ferry.patch_state("node-1", "maintenance", skipRebalance=True)
    ferry.wait_ready("node-1")
    conds = {c["type"]: c for c in ferry.status("node-1")["conditions"]}
    assert conds["RebalanceSkipped"]["status"] == "True"
    assert ferry.holdings()["node-1"] == held, "no data moved"
    ferry.verify(ds)  # still readable: get-from-neighbor finds them on the node in maintenance


def test_api_server_rejects_bad_states_and_non_admins(ferry: Ferry, kube: Cluster) -> None:
    ferry.create(["node-1"])
    bad = ferry.kubectl(
        "patch", "storagenode", "node-1", "--type", "merge", "-p", '{"spec":{"state":"sleeping"}}', check=False
    )
    assert bad.returncode != 0 and "Unsupported value" in bad.stderr
    moved = ferry.kubectl(
        "patch", "storagenode", "node-1", "--type", "merge", "-p", '{"spec":{"cluster":"other"}}', check=False
    )
    assert moved.returncode != 0 and "immutable" in moved.stderr
    for redundancy, says in (
        ('{"copies":4}', "redundancy.copies must be 1, 2 or 3"),
        ('{"copies":0}', "redundancy.copies must be 1, 2 or 3"),
        ('{"lossGraceSeconds":-1}', "redundancy.lossGraceSeconds must be 0"),
    ):
        body = '{"spec":{"redundancy":' + redundancy + "}}"
        refused = ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", body, check=False)
        assert refused.returncode != 0 and says in refused.stderr, refused.stderr
    kept = ferry.get("storagecluster", ferry.cluster)["spec"]["redundancy"]
    assert kept == {"copies": 1, "lossGraceSeconds": 600}, "nothing of a refused change is kept"

    kube.mint_user("dev-jane")
    kube.mint_user("ops-joe")
    roles = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "storagenode-viewer"},
        "rules": [{"apiGroups": ["ferry.dev"], "resources": ["storagenodes"], "verbs": ["get", "list", "watch"]}],
    }
    lifecycle = {**roles, "metadata": {"name": "storagenode-lifecycle"}}
    lifecycle["rules"] = [{"apiGroups": ["ferry.dev"], "resources": ["storagenodes"], "verbs": ["get", "patch"]}]

    def binding(user: str, role: str) -> dict[str, object]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-{role}"},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"kind": "Role", "name": role, "apiGroup": "rbac.authorization.k8s.io"},
        }

    ferry.apply(
        roles, lifecycle, binding("dev-jane", "storagenode-viewer"), binding("ops-joe", "storagenode-lifecycle")
    )
    assert ferry.kubectl("get", "storagenode", "node-1", user="dev-jane").returncode == 0
    refused = ferry.kubectl(
        "patch",
        "storagenode",
        "node-1",
        "--type",
        "merge",
        "-p",
        '{"spec":{"state":"maintenance"}}',
        user="dev-jane",
        check=False,
    )
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
    assert ferry.status("node-1")["state"] == "online"
    ferry.patch_state("node-1", "maintenance", user="ops-joe")
    ferry.wait_ready("node-1")
    assert ferry.status("node-1")["state"] == "maintenance"


def test_a_deleted_pod_is_recreated_and_rejoins_without_moving_data(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    held = ferry.holdings()
    before = ferry.cluster_map()
    uid = ferry.get("pod", "node-2-pod")["metadata"]["uid"]
    ferry.kubectl("delete", "pod", "node-2-pod", "--wait=true")
    wait_until(
        "a new node-2 pod",
        lambda: ferry.pod_exists("node-2") and ferry.get("pod", "node-2-pod")["metadata"]["uid"] != uid,
    )
    ferry.wait_ready("node-2")
    wait_until("node-2 answering again", lambda: "node-2" in ferry.addresses())
    assert ferry.holdings() == held, "its data was still on its volume; nothing moved"
    after = ferry.cluster_map()
    assert after.rebalance_id == before.rebalance_id, "no rebalance ran"
    # The same members with the same flags; the re-created pod may have a new IP (its url in the map follows it).
    assert {n: e.flags for n, e in after.nodes.items()} == {n: e.flags for n, e in before.nodes.items()}
    ferry.verify(ds)


def test_deleting_the_namespace_completes(ferry: Ferry, kube: Cluster) -> None:
    ferry.create(NODES)
    ferry.write(20)
    kube.kubectl("delete", "namespace", ferry.namespace, "--timeout=120s", timeout=150)
    assert kube.kubectl("get", "namespace", ferry.namespace, check=False).returncode != 0
