"""The rows of docs/lifecycle.md's table that had no e2e test, each checking placement on the nodes' disks."""

from __future__ import annotations

from pathlib import Path

import pytest
from localkube.cluster import Cluster
from storage_node import maps
from storage_operator.resources.claims import pvc_name

from tests.e2e.operator.ferry_e2e import Dataset, Ferry
from tests.integration.harness import objects_on_disk

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
COUNT = 90


def on_disk(kube: Cluster, ferry: Ferry, node: str) -> set[tuple[str, str]]:
    """The objects on `node`'s volume, read from its local PersistentVolume's directory on this machine."""
    claim = kube.get_json("pvc", pvc_name(node), "-n", ferry.namespace)
    path = Path(kube.get_json("pv", claim["spec"]["volumeName"])["spec"]["local"]["path"])
    return set(objects_on_disk(sorted(path.glob("mp*"))))


def assert_in_place(kube: Cluster, ferry: Ferry, ds: Dataset, nodes: list[str]) -> None:
    """Every object is on exactly its proper node by the current map, on no other volume, none lost."""
    placement = maps.Placement(ferry.cluster_map())
    seen: dict[str, str] = {}
    for node in nodes:
        for bucket, name in on_disk(kube, ferry, node):
            assert bucket == ds.bucket and name in ds.digests, f"unexpected {bucket}/{name} on {node}"
            assert name not in seen, f"{name} on both {seen[name]} and {node}"
            seen[name] = node
            assert placement.owner(bucket, name).id == node, f"{name} on {node}, proper node elsewhere"
    assert set(seen) == set(ds.digests), f"{len(set(ds.digests) - set(seen))} objects missing"


def test_shutdown_then_online_directly_restarts_and_refills_the_node(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.patch_state("node-2", "shutdown")
    ferry.wait_ready("node-2")
    assert not ferry.pod_exists("node-2")
    assert_in_place(kube, ferry, ds, NODES)

    ferry.patch_state("node-2", "online")  # RESTART + stop-maintenance in one step
    ferry.wait_ready("node-2")
    assert ferry.pod_exists("node-2") and ferry.cluster_map().nodes["node-2"].flags == []
    assert on_disk(kube, ferry, "node-2"), "the rebalance filled it again"
    assert_in_place(kube, ferry, ds, NODES)
    ferry.verify(ds)


def test_maintenance_then_shutdown_removes_the_pod_and_keeps_the_node_in_the_map(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.patch_state("node-1", "maintenance")
    ferry.wait_ready("node-1")
    ferry.patch_state("node-1", "shutdown")
    ferry.wait_ready("node-1")
    assert not ferry.pod_exists("node-1") and "node-1" in ferry.cluster_map().nodes
    assert ferry.status("node-1")["state"] == "shutdown"
    assert_in_place(kube, ferry, ds, NODES)
    ferry.verify(ds)


@pytest.mark.parametrize("first", ["maintenance", "shutdown"])
def test_decommission_from_maintenance_or_shutdown_removes_the_node(kube: Cluster, ferry: Ferry, first: str) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    ferry.patch_state("node-3", first)
    ferry.wait_ready("node-3")
    ferry.patch_state("node-3", "decommissioned")
    ferry.wait_ready("node-3")
    assert "node-3" not in ferry.cluster_map().nodes and not ferry.pod_exists("node-3")
    assert_in_place(kube, ferry, ds, ["node-1", "node-2"])
    ferry.verify(ds)


def test_forced_removal_drops_the_node_from_the_map_at_once_without_moving_data(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES)
    ferry.write(COUNT)
    kept = {n: on_disk(kube, ferry, n) for n in ("node-1", "node-2")}
    ferry.patch_state("node-2", "decommissioned", forceRemove=True)
    ferry.wait_ready("node-2")
    assert "node-2" not in ferry.cluster_map().nodes and not ferry.pod_exists("node-2")
    assert on_disk(kube, ferry, "node-1") == kept["node-1"], "no rebalance moved anything"


@pytest.mark.parametrize("state", ["shutdown", "decommissioned"])
def test_skip_rebalance_on_shutdown_and_decommission_moves_nothing_and_warns(
    kube: Cluster, ferry: Ferry, state: str
) -> None:
    ferry.create(NODES)
    ferry.write(COUNT)
    before = {n: on_disk(kube, ferry, n) for n in NODES}
    ferry.patch_state("node-1", state, skipRebalance=True)
    ferry.wait_ready("node-1")
    conds = {c["type"]: c for c in ferry.status("node-1")["conditions"]}
    assert conds["RebalanceSkipped"]["status"] == "True"
    assert not ferry.pod_exists("node-1")
    assert {n: on_disk(kube, ferry, n) for n in ("node-2", "node-3")} == {n: before[n] for n in ("node-2", "node-3")}
