"""The rows of docs/lifecycle.md's table that had no e2e test, each checking placement on the nodes' disks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal

import pytest
from localkube.cluster import Cluster
from storage_node import maps
from storage_node.client import NodeError

from tests.e2e.operator.disks import assert_in_place, on_disk
from tests.e2e.operator.ferry_e2e import Ferry, wait_until
from tests.e2e.operator.processes import node_process

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
COUNT = 90


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
    ds = ferry.write(COUNT)
    kept = {n: on_disk(kube, ferry, n) for n in NODES}
    lost = {name for _, name in kept["node-2"]}
    assert lost, "node-2 held some of the objects"
    ferry.patch_state("node-2", "decommissioned", forceRemove=True)
    ferry.wait_ready("node-2")
    assert "node-2" not in ferry.cluster_map().nodes and not ferry.pod_exists("node-2")
    stayed = ("node-1", "node-3")
    assert {n: on_disk(kube, ferry, n) for n in stayed} == {n: kept[n] for n in stayed}, "no rebalance moved anything"

    # what was on the removed node is lost, as the docs say; everything else reads back through every node
    for node in stayed:
        with ferry.client(node) as c:
            for name, digest in ds.digests.items():
                if name in lost:
                    with pytest.raises(NodeError) as err:
                        c.get_object(ds.bucket, name)
                    assert err.value.status == 404, f"{name} via {node}: {err.value}"
                else:
                    got = c.get_object(ds.bucket, name)
                    assert hashlib.sha256(got.data).hexdigest() == digest, f"{name} via {node}"


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


def test_with_two_copies_a_forced_removal_loses_nothing_and_the_copies_are_re_created(
    kube: Cluster, ferry: Ferry
) -> None:
    four = [*NODES, "node-4"]
    ferry.create(four, cluster_spec={"redundancy": {"copies": 2}})
    assert ferry.cluster_map().copies == 2
    ds = ferry.write(COUNT)
    placed = maps.Placement(ferry.cluster_map())
    disks = {n: on_disk(kube, ferry, n) for n in four}
    for name in ds.digests:  # every write is on its two holders when acknowledged
        holders = {h.id for h in placed.holders(ds.bucket, name)}
        assert {n for n in four if (ds.bucket, name) in disks[n]} == holders, name
    ferry.patch_state("node-2", "decommissioned", forceRemove=True)
    ferry.wait_ready("node-2")
    assert "node-2" not in ferry.cluster_map().nodes and not ferry.pod_exists("node-2")
    ferry.kubectl("wait", "--for=condition=Ready", f"storagecluster/{ferry.cluster}", "--timeout=120s", timeout=150)
    wait_until("the rebalance re-created the copies", lambda: not (ferry.cluster_status().get("rebalance") or {}))
    ferry.verify(ds)
    stay = ["node-1", "node-3", "node-4"]
    placement = maps.Placement(ferry.cluster_map())
    disks = {n: on_disk(kube, ferry, n) for n in stay}
    for name in ds.digests:
        holders = {h.id for h in placement.holders(ds.bucket, name)}
        assert {n for n in stay if (ds.bucket, name) in disks[n]} == holders, name


def test_with_two_copies_a_node_frozen_past_the_loss_grace_is_given_up_rebuilt_around_and_taken_back(
    kube: Cluster, ferry: Ferry
) -> None:
    four = [*NODES, "node-4"]
    ferry.create(four, cluster_spec={"redundancy": {"copies": 2, "lossGraceSeconds": 5}})
    ds = ferry.write(COUNT)
    pid = node_process(kube, ferry, "node-3")
    os.kill(pid, signal.SIGSTOP)  # the process stops answering; its pod stays (a hung disk, a stuck node)
    try:
        wait_until("node-3 unavailable", lambda: ferry.status("node-3").get("phase") == "Unavailable", timeout=60)

        wait_until(
            "node-3 given up",
            lambda: [f.value for f in ferry.cluster_map().nodes["node-3"].flags] == ["lost"],
            timeout=60,
        )
        wait_until("its copies re-created", lambda: not ferry.cluster_status().get("rebalance"), timeout=120)
        stay = ["node-1", "node-2", "node-4"]
        ferry.verify(ds, nodes=stay)  # every object from the others, while node-3 is still frozen
        placement = maps.Placement(ferry.cluster_map())
        disks = {n: on_disk(kube, ferry, n) for n in stay}
        for name in ds.digests:
            holders = {h.id for h in placement.holders(ds.bucket, name)}
            assert {n for n in stay if (ds.bucket, name) in disks[n]} == holders, name
    finally:
        with contextlib.suppress(ProcessLookupError):  # its container may have been restarted meanwhile
            os.kill(pid, signal.SIGCONT)
    wait_until("node-3 taken back", lambda: ferry.cluster_map().nodes["node-3"].flags == [], timeout=120)
    ferry.wait_ready("node-3")
    wait_until("its share back", lambda: not ferry.cluster_status().get("rebalance"), timeout=120)
    ferry.verify(ds)
    placement = maps.Placement(ferry.cluster_map())
    disks = {n: on_disk(kube, ferry, n) for n in four}
    for name in ds.digests:  # exactly K copies: what node-3 no longer holds went from it, its share came back
        holders = {h.id for h in placement.holders(ds.bucket, name)}
        assert {n for n in four if (ds.bucket, name) in disks[n]} == holders, name
