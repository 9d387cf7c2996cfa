"""Interruptions never lose a transition: operator and pod kills, queued changes, clients busy, stalls, cluster-wide."""

from __future__ import annotations

import hashlib
import random
import threading
from typing import Any

import pytest
from storage_node import auth
from storage_node.client import NodeError, SyncNodeClient

from tests.e2e.operator.conftest import InClusterOperator
from tests.e2e.operator.ferry_e2e import Dataset, Ferry, node_manifest, wait_until

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
    ferry.patch_state("node-1", "maintenance")
    ferry.wait_phase("node-1", "Rebalancing")
    operator.kill()
    assert running_rebalance(ferry), "the operator died with the rebalance in progress"
    operator.start()
    ferry.wait_ready("node-1")
    held = ferry.holdings()
    assert held["node-1"] == 0 and sum(held.values()) == COUNT
    ferry.verify(ds)


def test_node_pod_killed_mid_rebalance_is_restarted_and_the_transition_completes(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    ferry.patch_state("node-2", "shutdown")
    ferry.wait_phase("node-2", "Rebalancing")
    ferry.kubectl("delete", "pod", "node-2-pod", "--grace-period=0", "--force")
    assert running_rebalance(ferry)
    ferry.wait_ready("node-2", timeout=240)
    assert not ferry.pod_exists("node-2")
    assert sum(ferry.holdings().values()) == COUNT
    ferry.verify(ds)


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


class Traffic(threading.Thread):
    """A client doing PUT/GET/DELETE/list in a loop (bounded), recording every failure."""

    def __init__(self, ferry: Ferry, ds: Dataset) -> None:
        super().__init__(daemon=True)
        self.addresses = ferry.addresses()
        self.token = auth.issue_token(ferry.secret())
        self.ds = ds
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.written: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.ops = 0
        self.max_ops = 20_000

    def run(self) -> None:
        rnd = random.Random(7)
        clients = {n: SyncNodeClient(u, token=self.token) for n, u in self.addresses.items()}
        names = list(self.ds.digests)
        try:
            while not self.stop.is_set() and self.ops < self.max_ops:
                node = rnd.choice(list(clients))
                c = clients[node]
                self.ops += 1
                op = rnd.random()
                try:
                    if op < 0.4:
                        name = rnd.choice(names)
                        got = c.get_object(self.ds.bucket, name)
                        if hashlib.sha256(got.data).hexdigest() != self.ds.digests[name]:
                            self.failures.append(f"checksum of {name} via {node}")
                    elif op < 0.75:
                        name = f"live/{self.ops}"
                        data = rnd.randbytes(rnd.choice((10, 5000, 70_000)))
                        c.put_object(self.ds.bucket, name, data)
                        self.written[name] = hashlib.sha256(data).hexdigest()
                    elif op < 0.9 and self.written:
                        name = rnd.choice(sorted(self.written))
                        c.delete_object(self.ds.bucket, name)
                        del self.written[name]
                        self.deleted.add(name)
                    else:
                        c.list_bucket(self.ds.bucket, prefix="live/", token=None, limit=100)
                except (NodeError, OSError) as err:
                    self.failures.append(f"op {self.ops} via {node}: {err}")
        finally:
            for c in clients.values():
                c.close()


def test_clients_see_no_errors_and_lose_nothing_during_transitions(ferry: Ferry) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    ds = ferry.write(COUNT, sizes=BIG)
    traffic = Traffic(ferry, ds)
    traffic.start()
    try:
        ferry.patch_state("node-3", "maintenance")
        ferry.wait_ready("node-3", timeout=240)
        ferry.patch_state("node-3", "online")
        ferry.wait_ready("node-3", timeout=240)
    finally:
        traffic.stop.set()
        traffic.join(timeout=60)
    assert traffic.ops > 50, "the client kept working during the transitions"
    assert traffic.failures == []
    ferry.verify(ds)
    written = Dataset(ds.bucket, traffic.written)
    ferry.verify(written)
    with ferry.client("node-1") as c:
        for name in traffic.deleted:
            with pytest.raises(NodeError) as err:
                c.get_object(ds.bucket, name)
            assert err.value.status == 404, f"deleted {name} came back"


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
