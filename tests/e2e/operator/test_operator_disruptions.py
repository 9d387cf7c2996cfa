"""The node pods' disruption budget on a real node: no eviction while data moves, one at a time when quiet."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.e2e.operator.ferry_e2e import Ferry, wait_until

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
SLOW = {"rebalance": {"bandwidth": 1 << 20}}  # 1 MiB/s per node: a rebalance of a few MiB takes seconds
BIG = (262_144,)
COUNT = 72  # 18 MiB in all, ~6 MiB per node


def running_rebalance(ferry: Ferry) -> bool:
    return (ferry.cluster_status().get("rebalance") or {}).get("state") == "Running"


def uid(ferry: Ferry, pod: str) -> str | None:
    try:  # an evicted pod may vanish between two reads
        return str(ferry.get("pod", pod)["metadata"]["uid"]) if ferry.exists("pod", pod) else None
    except subprocess.CalledProcessError:
        return None


def answers(ferry: Ferry, node: str) -> bool:
    try:
        return ferry.node_status(node).id == node
    except Exception:  # not listed yet, or its pod not answering yet
        return False


def test_an_eviction_is_refused_while_a_rebalance_runs_and_a_permitted_one_is_a_restart_in_place(
    ferry: Ferry,
) -> None:
    ferry.create(NODES, cluster_spec=SLOW)
    assert {ferry.get("pod", f"{n}-pod")["status"]["qosClass"] for n in NODES} == {"Burstable"}, "default requests"
    ds = ferry.write(COUNT, sizes=BIG)
    wait_until("the quiet budget lets one node pod go", lambda: ferry.disruptions_allowed() == 1)
    assert ferry.budget()["spec"]["minAvailable"] == len(NODES) - 1

    ferry.patch_state("node-1", "maintenance")
    ferry.wait_phase("node-1", "Rebalancing")
    before = {n: uid(ferry, f"{n}-pod") for n in NODES}
    for pod in ("node-2-pod", "node-1-pod"):
        assert running_rebalance(ferry)
        refused = ferry.evict(pod)
        assert refused.returncode != 0, f"{pod} was evicted during the rebalance"
        assert "TooManyRequests" in refused.stderr and "disruption budget" in refused.stderr, refused.stderr
    assert ferry.budget()["spec"]["minAvailable"] == len(NODES)
    assert running_rebalance(ferry), "the refusals came while the rebalance ran"
    assert {n: uid(ferry, f"{n}-pod") for n in NODES} == before, "no pod went"

    ferry.wait_ready("node-1", timeout=240)
    wait_until("the budget opens again once the cluster is quiet", lambda: ferry.disruptions_allowed() == 1)
    held = ferry.holdings()
    assert held["node-1"] == 0, "node-1's data moved off before the budget opened"
    smap = ferry.cluster_map()

    start = time.monotonic()
    evicted = ferry.evict("node-3-pod")
    assert evicted.returncode == 0, evicted.stderr
    second = ferry.evict("node-2-pod")
    assert second.returncode != 0 and "TooManyRequests" in second.stderr, "a second pod went while node-3 is away"
    wait_until("a new node-3 pod", lambda: uid(ferry, "node-3-pod") not in (None, before["node-3"]), timeout=180)
    ferry.wait_ready("node-3")
    wait_until("node-3 answering again", lambda: answers(ferry, "node-3"), timeout=120)
    back = time.monotonic() - start
    print(f"evicted node pod back and answering in {back:.1f}s")

    assert ferry.status("node-3")["state"] == "online"
    assert ferry.holdings() == held, "node-3's data stayed on its volume; nothing moved"
    assert ferry.cluster_map().rebalance_id == smap.rebalance_id, "no rebalance ran"
    ferry.verify(ds)
    wait_until("the budget opens again", lambda: ferry.disruptions_allowed() == 1)
