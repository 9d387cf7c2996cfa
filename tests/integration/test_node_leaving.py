"""A node whose pod is being deleted: the pre-stop step marks it, its readiness fails, and it serves on meanwhile."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

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
