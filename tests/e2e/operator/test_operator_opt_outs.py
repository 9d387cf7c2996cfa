"""The documented opt-outs on the real node: no capacity check, no rebalance, a cluster that keeps its volumes."""

from __future__ import annotations

from typing import Any

import pytest
from localkube.cluster import Cluster

from tests.e2e.operator.disks import objects_in, on_disk, volume_dir
from tests.e2e.operator.ferry_e2e import Ferry, wait_until

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
MiB = 1 << 20
BIG = (262_144,)


def conditions(ferry: Ferry, node: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ferry.status(node).get("conditions", [])}


def last_rebalance(ferry: Ferry) -> str:
    return str((ferry.cluster_status().get("lastRebalance") or {}).get("id") or "g0")


def test_skip_capacity_check_lets_a_departure_that_would_not_fit_go_ahead(ferry: Ferry) -> None:
    # as in test_operator_capacity: node-1's 6 MiB would leave the others less free than their 40% headroom,
    # which makes the same decommission wait there (InsufficientCapacity); it still fits on their disks
    ferry.create(NODES, cluster_spec={"storage": {"size": "12Mi"}, "capacity": {"headroomPercent": 40}})
    ds = ferry.write(72, sizes=BIG)
    wait_until(
        "the nodes to report their space",
        lambda: all((ferry.status(n).get("capacity") or {}).get("usedBytes", 0) > 4 * MiB for n in NODES),
        timeout=60,
    )
    ferry.patch_state("node-1", "decommissioned", skipCapacityCheck=True)
    ferry.wait_ready("node-1", timeout=240)
    assert ferry.status("node-1")["state"] == "decommissioned"
    assert "node-1" not in ferry.cluster_map().nodes
    held = ferry.holdings()
    assert "node-1" not in held and sum(held.values()) == len(ds.digests)
    ferry.verify(ds)


def test_rebalance_disabled_on_the_cluster_moves_nothing_and_warns_on_the_node(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec={"rebalance": {"enabled": False}})
    ds = ferry.write(90)
    before = {n: on_disk(kube, ferry, n) for n in NODES}
    rebalance = last_rebalance(ferry)

    ferry.patch_state("node-2", "maintenance")
    ferry.wait_ready("node-2")
    assert [f.value for f in ferry.cluster_map().nodes["node-2"].flags] == ["maintenance"]
    assert conditions(ferry, "node-2")["RebalanceSkipped"]["status"] == "True"
    assert last_rebalance(ferry) == rebalance, "no rebalance ran"
    assert {n: on_disk(kube, ferry, n) for n in NODES} == before, "nothing moved"

    ferry.patch_state("node-2", "online")
    ferry.wait_ready("node-2")
    assert ferry.cluster_map().nodes["node-2"].flags == []
    assert last_rebalance(ferry) == rebalance
    assert {n: on_disk(kube, ferry, n) for n in NODES} == before
    ferry.verify(ds)  # nothing moved, and the node is back where its objects are


def test_cluster_decommission_without_rm_user_data_keeps_every_volume_with_its_objects(
    kube: Cluster, ferry: Ferry
) -> None:
    ferry.create(NODES)
    ferry.write(60)
    volumes = {n: volume_dir(kube, ferry, n) for n in NODES}
    kept = {n: objects_in(v) for n, v in volumes.items()}
    assert sum(len(k) for k in kept.values()) == 60

    body = '{"spec":{"state":"decommissioned"}}'
    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", body)
    ferry.kubectl("wait", "--for=condition=Ready", f"storagecluster/{ferry.cluster}", "--timeout=120s", timeout=150)
    wait_until("the pods gone", lambda: not any(ferry.pod_exists(n) for n in NODES))
    assert all(ferry.status(n)["state"] == "decommissioned" for n in NODES)

    ferry.kubectl("delete", "storagecluster", ferry.cluster, "--timeout=120s", timeout=150)
    for n in NODES:
        claim = ferry.get("pvc", f"{n}-data")
        assert not claim["metadata"].get("ownerReferences"), f"{n}'s volume no longer dies with its owner"
        assert objects_in(volumes[n]) == kept[n], f"{n}'s volume lost objects"


def test_deleting_a_live_storage_cluster_removes_its_pods_and_keeps_its_volumes(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES)
    ferry.write(60)
    volumes = {n: volume_dir(kube, ferry, n) for n in NODES}
    kept = {n: objects_in(v) for n, v in volumes.items()}

    ferry.kubectl("delete", "storagecluster", ferry.cluster, "--timeout=120s", timeout=150)
    wait_until("the pods gone", lambda: not any(ferry.pod_exists(n) for n in NODES))
    for n in NODES:
        claim = ferry.get("pvc", f"{n}-data")
        assert not claim["metadata"].get("ownerReferences"), f"{n}'s volume no longer dies with its owner"
        assert objects_in(volumes[n]) == kept[n], f"{n}'s volume lost objects"
