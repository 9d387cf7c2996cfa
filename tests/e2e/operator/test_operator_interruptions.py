"""Interruptions never lose a transition: operator and pod kills, queued changes, clients busy, stalls, cluster-wide."""

from __future__ import annotations

import time
from typing import Any

import pytest
from localkube.cluster import Cluster
from storage_node.schemas import rebalance_number

from tests.e2e.operator.conftest import InClusterOperator
from tests.e2e.operator.disks import assert_in_place
from tests.e2e.operator.ferry_e2e import Ferry, node_manifest, wait_until
from tests.e2e.operator.loads import assert_read_back
from tests.e2e.operator.loads import clients as clients  # bench/rollout_bench.py imports it from here

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
SLOW = {"rebalance": {"bandwidth": 1 << 20}}  # 1 MiB/s per node: a rebalance of a few MiB takes seconds
BIG = (262_144,)
COUNT = 72  # 18 MiB in all, ~6 MiB per node


def running_rebalance(ferry: Ferry) -> bool:
    return (ferry.cluster_status().get("rebalance") or {}).get("state") == "Running"


def test_operator_killed_mid_rebalance_resumes_and_completes(ferry: Ferry, operator: InClusterOperator) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    with clients(ferry, ds) as (load, windows):
        start = time.monotonic()
        ferry.patch_state("node-1", "maintenance")
        ferry.wait_phase("node-1", "Rebalancing")
        operator.kill()
        assert running_rebalance(ferry), "the operator died with the rebalance in progress"
        operator.start()
        ferry.wait_ready("node-1")
        windows.append((start, time.monotonic()))
    assert not load.failures, load.summary()
    assert load.overlapping(windows) > 100, load.overlapping(windows)
    held = ferry.holdings()
    assert held["node-1"] == 0
    assert COUNT + len(load.live()) <= sum(held.values()) <= COUNT + len(load.live()) + len(load.uncertain())
    ferry.verify(ds)
    assert_read_back(ferry, load)


def test_node_pod_killed_mid_rebalance_is_restarted_and_the_transition_completes(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    with clients(ferry, ds) as (load, windows):
        start = time.monotonic()
        ferry.patch_state("node-2", "shutdown")
        ferry.wait_phase("node-2", "Rebalancing")
        ferry.kubectl("delete", "pod", "node-2-pod", "--grace-period=0", "--force")
        assert running_rebalance(ferry)
        ferry.wait_ready("node-2", timeout=240)
        windows.append((start, time.monotonic()))
    assert not ferry.pod_exists("node-2")
    held = sum(ferry.holdings().values())
    assert COUNT + len(load.live()) <= held <= COUNT + len(load.live()) + len(load.uncertain())
    assert load.overlapping(windows) > 100

    # while the killed pod is away it still holds data (its rebalance was cut short): no other node can tell
    # whether an object it does not hold is on it, so those requests wait for the pod to come back and then
    # answer right; nothing fails (and a DELETE of an object already deleted answers 404 even though the killed
    # node kept a copy it had handed over: that copy is older than the delete). Only a request sent or redirected
    # to the killed pod itself cannot connect: `gone`, counted apart and bounded in `clients`
    assert not load.failures, load.summary()
    ferry.verify(ds)
    assert_read_back(ferry, load)


def test_a_second_change_waits_its_turn_visibly_and_then_completes(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    ferry.patch_state("node-1", "maintenance")
    ferry.wait_phase("node-1", "Rebalancing")
    ferry.patch_state("node-2", "maintenance")
    ferry.apply(node_manifest("node-4", ferry.cluster))  # a node joining mid-rebalance

    def waiting(name: str) -> bool:
        conds = {c["type"]: c for c in ferry.status(name).get("conditions", [])}
        prog = conds.get("Progressing", {})
        return prog.get("status") == "False" and prog.get("reason") == "WaitingForTurn" and "node-1" in prog["message"]

    wait_until("node-2 to show it waits for node-1", lambda: waiting("node-2"), timeout=30)
    for name in ("node-1", "node-2", "node-4"):
        ferry.wait_ready(name, timeout=300)
    held = ferry.holdings()
    assert held["node-1"] == held["node-2"] == 0
    assert held["node-4"] > 0 and sum(held.values()) == COUNT
    ferry.verify(ds)


def transition(ferry: Ferry, windows: list[tuple[float, float]], node: str, state: str) -> None:
    """Patch a node's state and wait for it to be reached, recording the span."""
    start = time.monotonic()
    ferry.patch_state(node, state)
    ferry.wait_ready(node, timeout=240)
    windows.append((start, time.monotonic()))


def test_clients_see_no_errors_and_lose_nothing_during_transitions(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    with clients(ferry, ds) as (load, windows):
        time.sleep(1.0)
        transition(ferry, windows, "node-3", "maintenance")
        transition(ferry, windows, "node-3", "online")
        transition(ferry, windows, "node-2", "shutdown")
        transition(ferry, windows, "node-2", "maintenance")
        transition(ferry, windows, "node-2", "online")
    during = load.overlapping(windows)
    assert not load.failures, load.summary()
    # the rebalances are throttled to take seconds: most requests ran while one was in progress
    assert during > 200 and during >= load.requests // 2, (during, load.requests)
    ferry.verify(ds)
    with ferry.client("node-1") as c:
        listed = {o.name: o.checksum for o in c.list_all(ds.bucket)}
        mine = {k: v for k, v in listed.items() if k.startswith("clients/") and k not in load.uncertain()}
        assert mine == load.live()
    assert_read_back(ferry, load)


def test_a_superseded_transition_and_a_decommission_under_load_fail_no_request(kube: Cluster, ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    with clients(ferry, ds) as (load, windows):
        time.sleep(1.0)
        start = time.monotonic()
        ferry.patch_state("node-2", "maintenance")
        ferry.wait_phase("node-2", "Rebalancing")
        superseded = ferry.cluster_map().rebalance_id
        assert running_rebalance(ferry), "node-2's data was still moving off"
        ferry.patch_state("node-2", "online")  # changed its mind: a newer rebalance brings the share back
        ferry.wait_ready("node-2", timeout=240)
        windows.append((start, time.monotonic()))
        back = ferry.cluster_map().rebalance_id
        assert rebalance_number(back) > rebalance_number(superseded), (back, superseded)
        transition(ferry, windows, "node-3", "decommissioned")
    assert not load.failures, load.summary()
    assert load.overlapping(windows) > 200, load.overlapping(windows)
    final = ferry.cluster_map()
    assert final.nodes["node-2"].flags == [] and "node-3" not in final.nodes
    # every object where the last map puts it, on one volume only: the superseded rebalance left nothing behind
    maybe = load.uncertain() | set(load.deleted())
    assert_in_place(kube, ferry, ds, ["node-1", "node-2"], also=load.live(), maybe=maybe)
    ferry.verify(ds)
    assert_read_back(ferry, load)


def conditions(ferry: Ferry, kind: str, name: str) -> dict[str, Any]:
    return {c["type"]: c for c in (ferry.get(kind, name).get("status") or {}).get("conditions", [])}


def test_a_stalled_rebalance_is_reported_degraded_and_recovers(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec={"rebalance": {"bandwidth": 1024}})
    ds = ferry.write(COUNT, sizes=BIG)
    ferry.patch_state("node-1", "maintenance")
    wait_until(
        "node-1 Degraded with RebalanceStalled",
        lambda: conditions(ferry, "storagenode", "node-1").get("Degraded", {}).get("reason") == "RebalanceStalled",
        timeout=60,
    )
    assert conditions(ferry, "storagecluster", ferry.cluster)["Degraded"]["status"] == "True"
    ferry.kubectl(
        "patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", '{"spec":{"rebalance":{"bandwidth":0}}}'
    )
    ferry.wait_ready("node-1", timeout=240)
    assert conditions(ferry, "storagenode", "node-1")["Degraded"]["status"] == "False"
    assert ferry.holdings()["node-1"] == 0
    ferry.verify(ds)


def test_cluster_shutdown_keeps_the_map_and_comes_back_without_rebalance(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(60)
    before = ferry.cluster_map()
    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", '{"spec":{"state":"shutdown"}}')
    ferry.kubectl("wait", "--for=condition=Ready", f"storagecluster/{ferry.cluster}", "--timeout=120s", timeout=150)
    assert not any(ferry.pod_exists(n) for n in NODES)
    assert ferry.cluster_status()["state"] == "shutdown"
    assert ferry.cluster_map() == before, "the map is kept"

    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", '{"spec":{"state":"online"}}')
    for n in NODES:
        ferry.wait_ready(n)
    after = ferry.cluster_map()
    assert after.rebalance_id == before.rebalance_id, "coming back runs no rebalance"
    # the same members and flags; the re-created pods may have new IPs (their urls in the map follow them)
    assert {n: e.flags for n, e in after.nodes.items()} == {n: e.flags for n, e in before.nodes.items()}
    assert sum(ferry.holdings().values()) == 60
    ferry.verify(ds)


def test_cluster_decommission_with_rm_user_data_destroys_it(ferry: Ferry) -> None:
    ferry.create(NODES)
    ferry.write(30)
    body = '{"spec":{"state":"decommissioned","rmUserData":true}}'
    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", body)
    ferry.kubectl("wait", "--for=condition=Ready", f"storagecluster/{ferry.cluster}", "--timeout=120s", timeout=150)
    wait_until(
        "pods and volumes gone", lambda: not any(ferry.pod_exists(n) or ferry.exists("pvc", f"{n}-data") for n in NODES)
    )
    assert all(ferry.status(n)["state"] == "decommissioned" for n in NODES)
    rejected = ferry.kubectl(
        "patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", '{"spec":{"state":"online"}}', check=False
    )
    assert rejected.returncode != 0 and "terminal" in rejected.stderr
