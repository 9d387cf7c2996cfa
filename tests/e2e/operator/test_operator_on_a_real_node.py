"""What a real kubelet does to storage nodes: a container restart and an eviction; the data stays where it is."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.operator.ferry_e2e import Ferry, wait_until

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2", "node-3"]
COUNT = 60


def restarts(ferry: Ferry, pod: str) -> int:
    statuses = ferry.get("pod", pod).get("status", {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount", 0))


def test_a_node_killed_inside_its_container_restarts_under_the_kubelet_and_rejoins_in_place(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    held = ferry.holdings()
    before = ferry.cluster_map()
    uid = ferry.get("pod", "node-2-pod")["metadata"]["uid"]

    ferry.kubectl("exec", "node-2-pod", "--", "sh", "-c", "kill 1", check=False)
    wait_until("node-2's container restarted by the kubelet", lambda: restarts(ferry, "node-2-pod") >= 1)
    ferry.kubectl("wait", "--for=condition=Ready", "pod/node-2-pod", "--timeout=120s", timeout=150)
    ferry.wait_ready("node-2")
    wait_until("node-2 answering again", lambda: "node-2" in ferry.addresses())

    assert ferry.get("pod", "node-2-pod")["metadata"]["uid"] == uid, "the same pod: only its container restarted"
    assert ferry.holdings() == held, "its data stayed on its volume; nothing moved"
    assert ferry.cluster_map().rebalance_id == before.rebalance_id, "no rebalance ran"
    ferry.verify(ds)


def test_an_evicted_node_pod_is_recreated_and_rejoins_in_place(ferry: Ferry) -> None:
    ferry.create(NODES)
    ds = ferry.write(COUNT)
    held = ferry.holdings()
    before = ferry.cluster_map()
    uid = ferry.get("pod", "node-3-pod")["metadata"]["uid"]

    wait_until("the disruption budget lets one node pod go", lambda: ferry.disruptions_allowed() == 1)
    evicted = ferry.evict("node-3-pod")
    assert evicted.returncode == 0, evicted.stderr

    def replaced() -> bool:
        try:  # the evicted pod may vanish between the two reads
            return ferry.pod_exists("node-3") and ferry.get("pod", "node-3-pod")["metadata"]["uid"] != uid
        except subprocess.CalledProcessError:
            return False

    wait_until("a new node-3 pod after the eviction", replaced, timeout=180)
    ferry.wait_ready("node-3")
    wait_until("node-3 answering again", lambda: "node-3" in ferry.addresses())

    assert ferry.holdings() == held, "its data stayed on its volume; nothing moved"
    assert ferry.cluster_map().rebalance_id == before.rebalance_id, "no rebalance ran"
    ferry.verify(ds)
