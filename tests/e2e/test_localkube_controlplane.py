"""The local control plane: ready from the cached binaries; one real node per machine, a second is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from localkube.cluster import Cluster

pytestmark = pytest.mark.e2e


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


def test_a_second_real_node_is_refused_while_one_runs_and_the_first_is_untouched(kube: Cluster, tmp_path: Path) -> None:
    other = Cluster(tmp_path / "other")
    with pytest.raises(RuntimeError, match="another localkube real node runs on this machine"):
        other.up(bin_dir=kube.bin_dir)
    assert other.down() == []
    assert not any(other.status().values())
    assert kube.kubectl("get", "--raw", "/readyz").stdout == "ok"  # the session cluster is untouched
