"""The rebalance long poll: a caller hears when its rebalance is over on a node, without polling."""

from __future__ import annotations

import threading
import time

import httpx
from storage_node.schemas import NodeFlag, RebalanceStage, RebalanceStatus

from tests.integration.harness import Cluster, admin_headers, upload

MiB = 1 << 20


def test_long_poll_answers_when_the_rebalance_is_over(cluster: Cluster) -> None:
    urls = cluster.form(3)
    upload(urls, {f"obj-{i}": 256 * 1024 for i in range(120)})
    leaving = cluster.nodes["n2"]
    cluster.set_bandwidth(leaving, 4 * MiB, concurrency=1)  # its ~10 MiB take a few seconds to leave
    answers: dict[str, tuple[RebalanceStatus, float]] = {}

    def long_poll(name: str) -> None:
        with cluster.client(cluster.nodes[name]) as c:
            answers[name] = (c.rebalance_status(settled="g2", wait=45), time.monotonic())

    # asked before the map exists on the node: the answer waits for g2 to start and then to finish there
    pollers = [threading.Thread(target=long_poll, args=(n,)) for n in cluster.nodes]
    for t in pollers:
        t.start()
    time.sleep(0.3)
    cluster.push_map(cluster.make_map(2, 2, {"n2": [NodeFlag.maintenance]}))
    for t in pollers:
        t.join(60)
    assert set(answers) == set(cluster.nodes)
    for name, (st, _) in answers.items():
        assert st.id == "g2" and st.stage is RebalanceStage.done, (name, st)
    # the leaving node answers last, when its own part is done: nothing of its share is left on it
    with cluster.client(leaving) as c:
        assert c.status().objects == 0
    assert answers["n2"][1] >= max(answers[n][1] for n in ("n0", "n1"))

    # a settled rebalance answers at once; a long poll for a later one answers after `wait` with what is there
    with cluster.client(cluster.nodes["n0"]) as c:
        start = time.monotonic()
        assert c.rebalance_status(settled="g2", wait=30).stage is RebalanceStage.done
        assert time.monotonic() - start < 10
        start = time.monotonic()
        later = c.rebalance_status(settled="g3", wait=0.5)
        assert later.id == "g2" and time.monotonic() - start >= 0.5


def test_long_poll_rejects_bad_input(cluster: Cluster) -> None:
    node = cluster.add_node("a")
    url = f"{node.url}/v1/admin/rebalance"
    for params in ({"settled": "x1", "wait": "1"}, {"settled": "g1", "wait": "61"}, {"settled": "g1", "wait": "-1"}):
        resp = httpx.get(url, params=params, headers=admin_headers())
        assert resp.status_code == 422, (params, resp.text)
    assert httpx.get(url, params={"settled": "g1", "wait": "1"}).status_code == 401
