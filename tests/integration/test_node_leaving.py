"""A node whose pod is being deleted: the pre-stop step marks it, its readiness fails, and it serves on meanwhile."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from storage_node import maps

from tests.integration.harness import BUCKET, Cluster


def test_the_pre_stop_step_fails_readiness_while_every_request_is_still_answered(cluster: Cluster) -> None:
    cluster.form(2)
    node = cluster.nodes["n0"]
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for i in range(20):
            assert http.put(f"{node.url}/v1/objects/{BUCKET}/o{i}", content=b"x%d" % i).status_code == 200
        assert http.get(f"{node.url}/health/ready").status_code == 200
        args = ["-m", "storage_node.prestop", "--state-dir", str(node.state_dir), "--wait", "3"]
        started = time.monotonic()
        prestop = subprocess.Popen([sys.executable, *args])
        try:
            deadline = time.monotonic() + 10
            while http.get(f"{node.url}/health/ready").status_code == 200:
                assert time.monotonic() < deadline, "readiness never failed"
                time.sleep(0.05)
            ready = http.get(f"{node.url}/health/ready")
            assert ready.status_code == 503 and ready.json() == {"ready": False, "leaving": True}
            answered = 0
            while prestop.poll() is None:  # the whole wait: reads, writes, deletes and listings all answered
                i = answered % 20
                assert http.get(f"{node.url}/v1/objects/{BUCKET}/o{i}").content == b"x%d" % i
                assert http.put(f"{node.url}/v1/objects/{BUCKET}/n{answered}", content=b"new").status_code == 200
                assert http.delete(f"{node.url}/v1/objects/{BUCKET}/n{answered}").status_code == 200
                assert http.get(f"{node.url}/v1/buckets/{BUCKET}").status_code == 200
                answered += 1
        finally:
            prestop.wait(30)
        assert prestop.returncode == 0 and time.monotonic() - started >= 3
        assert answered > 0
        assert http.get(f"{node.url}/health/live").status_code == 200  # alive: only not Ready
    # a restarted container of the same pod (the mark is still on its volume) is Ready again
    cluster.kill(node)
    cluster.start(node)
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        assert http.get(f"{node.url}/health/ready").status_code == 200
        assert http.get(f"{node.url}/v1/objects/{BUCKET}/o3").content == b"x3"


def test_with_two_copies_a_leaving_node_never_answers_with_the_copy_the_others_wrote_around(
    cluster: Cluster,
) -> None:
    for i in range(3):
        cluster.add_node(f"n{i}")
    cluster.push_map(cluster.make_map(1, 1, copies=2))
    leaving = cluster.nodes["n0"]
    with cluster.client(leaving) as c:
        c.create_bucket(BUCKET)
    placement = maps.Placement(cluster.map)  # type: ignore[arg-type]
    mine = [f"k{i}" for i in range(200) if placement.owner(BUCKET, f"k{i}").id == "n0"][:10]
    other = cluster.nodes["n1"]
    with httpx.Client(follow_redirects=True, timeout=30) as http:
        for name in mine:
            assert http.put(f"{leaving.url}/v1/objects/{BUCKET}/{name}", content=b"old").status_code == 200
        args = ["-m", "storage_node.prestop", "--state-dir", str(leaving.state_dir), "--wait", "8"]
        prestop = subprocess.Popen([sys.executable, *args])
        try:
            time.sleep(3.0)  # the others' probes find it not Ready (twice in a row, every 0.5 s)
            for name in mine:
                # written around it (its copy stays "old" until the writer's rebalance pass hands it the new
                # one), then read from it at once, as its primary: the newer copy, never its own old one
                assert http.put(f"{other.url}/v1/objects/{BUCKET}/{name}", content=b"new").status_code == 200
                r = http.get(f"{leaving.url}/v1/objects/{BUCKET}/{name}")
                assert (r.status_code, r.content) == (200, b"new"), (name, r.status_code, r.content)
        finally:
            prestop.wait(30)
