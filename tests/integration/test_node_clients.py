"""Clients that pick any node for any request see no failure through every kind of map change.

Real node processes; the maps reach the nodes one at a time in a random order with pauses between them, so
nodes hold different map versions while clients keep going; the rebalance is run unthrottled and throttled.
Every failed request counts: a 404 for an object the client wrote and did not delete, a stale or missing
listing entry, a 503, an exception.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload, verify_readable
from tests.integration.walks import Walk
from tests.workload import Workload


@pytest.mark.parametrize("throttle", [None, 4 << 20], ids=["unthrottled", "throttled"])
def test_clients_see_no_failure_through_every_transition(cluster: Cluster, throttle: int | None) -> None:
    urls = cluster.form(4)
    stable = upload(urls, mixed_sizes(1200 if throttle else 600, seed=11))
    walk = Walk(cluster, throttle)
    walk.throttle_all()

    with Workload(BUCKET, walk.targets, threads=4, keys=50, stable=stable, seed=1) as clients:
        time.sleep(1.0)
        walk.start_maintenance("n1")
        walk.stop_maintenance("n1")
        walk.shutdown("n2")
        walk.restart("n2")
        walk.stop_maintenance("n2")
        walk.decommission("n3")
        walk.join("n4")
        time.sleep(1.0)

    during = clients.overlapping(walk.windows)
    assert not clients.failures, clients.summary() + "\n" + "\n".join(walk.log)
    assert clients.requests > 1000, clients.requests
    # the windows are long enough that a good share of the traffic meets a map change or a moving object
    assert during >= clients.requests // 3, (during, clients.requests)

    expected = {**stable, **clients.live()}
    cluster.assert_in_place(expected)
    running = walk.targets()
    verify_readable(running[:2], expected)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for key in clients.deleted():
            assert http.get(f"{running[0]}/v1/objects/{BUCKET}/{key}").status_code == 404, f"{key} came back"
