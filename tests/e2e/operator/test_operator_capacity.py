"""Capacity on the real node: nodes report their space, a departure that does not fit waits, batches leave once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.operator.ferry_e2e import Ferry, node_manifest, wait_until

pytestmark = pytest.mark.e2e
MiB = 1 << 20
BIG = (262_144,)


def condition(ferry: Ferry, node: str, kind: str) -> dict[str, Any]:
    found: dict[str, dict[str, Any]] = {c["type"]: c for c in ferry.status(node).get("conditions", [])}
    return found.get(kind, {})


def rebalance_number(ferry: Ferry) -> int:
    rid = (ferry.cluster_status().get("lastRebalance") or {}).get("id") or "g0"
    return int(str(rid).lstrip("g"))


def test_a_decommission_that_would_not_fit_waits_and_goes_once_a_node_is_added(ferry: Ferry) -> None:
    # 12 MiB volumes, ~6 MiB of objects each: node-1's data would put ~3 MiB more on each of the two others,
    # which keep 40% (4.8 MiB) of their capacity free
    ferry.create(
        ["node-1", "node-2", "node-3"], cluster_spec={"storage": {"size": "12Mi"}, "capacity": {"headroomPercent": 40}}
    )
    ds = ferry.write(72, sizes=BIG)

    def reported() -> bool:
        return all(
            (ferry.status(n).get("capacity") or {}).get("usedBytes", 0) > 4 * MiB
            for n in ("node-1", "node-2", "node-3")
        )

    wait_until("the nodes to report their space", reported, timeout=60)
    space = ferry.status("node-2")["capacity"]
    assert space["capacityBytes"] == 12 * MiB, space  # the volume the claim asked for, as statvfs sees it
    assert space["freeBytes"] + space["usedBytes"] <= space["capacityBytes"]
    assert space["usedBytes"] >= ferry.node_status("node-2").bytes
    table = ferry.kubectl("get", "storagenodes").stdout
    assert "FREE" in table.splitlines()[0] and " MiB" in table, table

    ferry.patch_state("node-1", "decommissioned")
    wait_until(
        "node-1 to wait with InsufficientCapacity",
        lambda: condition(ferry, "node-1", "Progressing").get("reason") == "InsufficientCapacity",
        timeout=60,
    )
    msg = condition(ferry, "node-1", "Progressing")["message"]
    assert "MiB" in msg and "headroom" in msg, msg
    assert condition(ferry, "node-1", "Ready")["reason"] == "InsufficientCapacity"
    time.sleep(3)  # it keeps waiting: nothing left the map, nothing moved
    assert not ferry.cluster_map().nodes["node-1"].flags
    assert ferry.status("node-1")["state"] == "online"
    ferry.verify(ds)

    ferry.apply(node_manifest("node-4", ferry.cluster))  # a node joins (it is not held up by the waiting one)
    ferry.wait_ready("node-4", timeout=240)
    wait_until(
        "node-1's decommission to complete",
        lambda: ferry.status("node-1").get("state") == "decommissioned",
        timeout=240,
    )
    assert "node-1" not in ferry.cluster_map().nodes
    wait_until("node-1's pod to go", lambda: not ferry.pod_exists("node-1"), timeout=60)
    assert sum(ferry.holdings().values()) == len(ds.digests)
    ferry.verify(ds)


def test_nodes_decommissioned_together_leave_in_one_rebalance(ferry: Ferry) -> None:
    nodes = [f"node-{i}" for i in range(1, 6)]
    ferry.create(nodes)
    ds = ferry.write(60)
    before = rebalance_number(ferry)
    start = time.monotonic()
    ferry.apply(*(node_manifest(n, ferry.cluster, state="decommissioned") for n in ("node-1", "node-2", "node-3")))
    leaving = ("node-1", "node-2", "node-3")
    wait_until(
        "the three decommissioned",
        lambda: all(ferry.status(n).get("state") == "decommissioned" for n in leaving),
        timeout=300,
    )
    took = time.monotonic() - start
    assert rebalance_number(ferry) == before + 1, "one global rebalance for the three departures"
    events = json.loads(ferry.kubectl("get", "events", "-o", "json").stdout)["items"]
    together = [e["message"] for e in events if e.get("reason") == "MapPublished" and "leave together" in e["message"]]
    assert together and all(n in together[0] for n in ("node-1", "node-2", "node-3")), together
    assert set(ferry.cluster_map().nodes) == {"node-4", "node-5"}
    wait_until("the three pods to go", lambda: not any(ferry.pod_exists(n) for n in leaving), timeout=60)
    held = ferry.holdings()
    assert sum(held.values()) == len(ds.digests), held
    ferry.verify(ds)
    print(f"\nthree nodes decommissioned together: {took:.1f} s, one rebalance")
