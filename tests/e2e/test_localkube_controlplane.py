"""The local control plane: ready from the cached binaries; a second cluster coexists and stops cleanly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from localkube.cluster import Cluster

pytestmark = pytest.mark.e2e

SLEEPER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "sleeper"},
    "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [
            {"name": "main", "image": "ferry:dev", "command": ["python", "-c", "import time; time.sleep(3600)"]}
        ],
    },
}


def test_api_server_answers_readyz_and_reports_the_pinned_release(kube: Cluster) -> None:
    assert kube.kubectl("get", "--raw", "/readyz").stdout == "ok"
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"
    assert version["clientVersion"]["gitVersion"] == "v1.34.4"
    helm = [str(kube.bin_dir / "helm")]
    assert subprocess.run([*helm, "version", "--short"], capture_output=True, text=True).stdout.startswith("v3.19.5")
    listed = subprocess.run([*helm, "list", "--all-namespaces"], capture_output=True, text=True, env=kube.env)
    assert listed.returncode == 0, listed.stderr
    nodes = kube.get_json("nodes")["items"]
    ready = {
        n["metadata"]["name"]: c["status"] for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready"
    }
    assert ready == {"local-1": "True"}


def test_a_second_cluster_runs_beside_and_down_ends_every_process(kube: Cluster, tmp_path: Path) -> None:
    other = Cluster(tmp_path / "other")
    try:
        other.up(bin_dir=kube.bin_dir)
        assert other.address != kube.address
        assert other.kubectl("get", "--raw", "/readyz").stdout == "ok"
        other.apply(json.dumps(SLEEPER))
        other.kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
        started = other.leftovers()
        assert len(started) >= 6  # etcd, apiserver, controller manager, scheduler, runner, the pod
    finally:
        swept = other.down()
    assert swept == [], "processes survived the orderly stop and had to be swept"
    assert other.leftovers() == []
    assert not any(other.status().values())
    assert other.down() == []  # idempotent
    assert kube.kubectl("get", "--raw", "/readyz").stdout == "ok"  # the session cluster is untouched
