"""`kubectl ferry` on the real cluster: run through kubectl's plugin mechanism, its output matches the resources."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from localkube.cluster import Cluster

from tests.e2e.operator.ferry_e2e import Ferry

pytestmark = pytest.mark.e2e
NODES = ["node-1", "node-2"]
PLUGIN_DIR = Path(sys.executable).parent  # the package's entry point `kubectl-ferry` is installed here


def plugin_env(kube: Cluster) -> dict[str, str]:
    """The user's environment: the kubeconfig, the pinned kubectl, and kubectl-ferry on PATH."""
    env = dict(kube.env)
    env["PATH"] = f"{PLUGIN_DIR}{os.pathsep}{env['PATH']}"
    return env


def kubectl_ferry(kube: Cluster, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl ferry ARGS` as a user types it (kubectl finds the plugin on PATH)."""
    env = plugin_env(kube)
    if user is not None:
        env["KUBECONFIG"] = str(kube.mint_user(user))
    return subprocess.run(
        [str(kube.bin_dir / "kubectl"), "ferry", *args], env=env, capture_output=True, text=True, timeout=60
    )


def table(text: str) -> dict[str, list[str]]:
    """The node table of the output, rows by node name, cells split on the column gaps."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NODE"))
    return {
        cells[0]: cells for line in lines[start + 1 :] if (cells := [c.strip() for c in line.split("   ") if c.strip()])
    }


def expected_cells(node: dict[str, Any]) -> list[str]:
    """What `show cluster` must print for a StorageNode: name, state, desired, phase, address, objects, map."""
    st = node.get("status") or {}
    return [
        node["metadata"]["name"],
        str(st.get("state", "-")),
        str(node["spec"]["state"]),
        str(st.get("phase", "-")),
        str(st.get("address", "-")),
        str(st.get("objects", "-")),
        str(st.get("mapVersion", "-")),
    ]


def shown_cells(row: list[str]) -> list[str]:
    # NODE STATE DESIRED PHASE READY ADDRESS OBJECTS COPIES BELOW-K BYTES CAPACITY FREE MAP REBALANCE
    return [row[0], row[1], row[2], row[3], row[5], row[6], row[12]]


def stable_show_cluster(ferry: Ferry, kube: Cluster) -> tuple[str, dict[str, dict[str, Any]]]:
    """The plugin's output and the StorageNodes read before and after it, unchanged in between."""
    for _ in range(20):
        before = {n: ferry.node(n) for n in NODES}
        proc = kubectl_ferry(kube, "show", "cluster", ferry.cluster, "-n", ferry.namespace)
        assert proc.returncode == 0, proc.stderr
        after = {n: ferry.node(n) for n in NODES}
        if all(before[n].get("status") == after[n].get("status") for n in NODES):
            return proc.stdout, after
        time.sleep(1)
    raise AssertionError("the StorageNodes never held still for one `kubectl ferry show cluster`")


def test_show_cluster_and_rebalance_match_the_resources(ferry: Ferry, kube: Cluster) -> None:
    ferry.create(NODES)
    ferry.write(40)
    ferry.patch_state("node-2", "maintenance")  # one global rebalance moves node-2's objects to node-1
    ferry.wait_ready("node-2")

    out, nodes = stable_show_cluster(ferry, kube)
    rows = table(out)
    assert sorted(rows) == NODES
    for n in NODES:
        assert shown_cells(rows[n]) == expected_cells(nodes[n]), out
    assert rows["node-2"][1:3] == ["maintenance", "maintenance"]
    status = ferry.cluster_status()
    assert f"StorageCluster {ferry.namespace}/{ferry.cluster}" in out and f"map v{status['map']['version']}" in out

    proc = kubectl_ferry(kube, "show", "rebalance", "-n", ferry.namespace)
    assert proc.returncode == 0, proc.stderr
    last = status.get("rebalance") or status["lastRebalance"]
    assert f"rebalance {last['id']} {last['state']}" in proc.stdout
    assert sorted(table(proc.stdout)) == NODES


def test_clear_errors_for_a_missing_cluster_and_no_access(ferry: Ferry, kube: Cluster) -> None:
    ferry.create(["node-1"])
    proc = kubectl_ferry(kube, "show", "cluster", "nope", "-n", ferry.namespace)
    assert proc.returncode == 1 and "no StorageCluster named 'nope'" in proc.stderr
    proc = kubectl_ferry(kube, "show", "cluster", "-n", ferry.namespace, user=f"nobody-{ferry.namespace}")
    assert proc.returncode == 1 and "no access" in proc.stderr

    # --watch refreshes until Ctrl-C, then leaves cleanly
    watch = subprocess.Popen(
        [str(kube.bin_dir / "kubectl"), "ferry", "show", "cluster", "-n", ferry.namespace, "-w", "--interval", "1"],
        env=plugin_env(kube),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    header = f"StorageCluster {ferry.namespace}/{ferry.cluster}"
    lines: list[str] = []
    assert watch.stdout is not None and watch.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        # two refreshes, however long each takes on a busy machine (bounded), then Ctrl-C
        deadline = time.monotonic() + 60
        while sum(header in line for line in list(lines)) < 2 and time.monotonic() < deadline and watch.poll() is None:
            time.sleep(0.2)
        os.killpg(watch.pid, signal.SIGINT)  # what Ctrl-C sends the terminal's process group
        watch.wait(timeout=30)  # a loaded machine (the suites run side by side) may take seconds to unwind
        reader.join(10)
        err = watch.stderr.read()
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait()
    out = "".join(lines)
    assert watch.returncode == 0, err
    assert out.count(header) >= 2, out
    assert "Traceback" not in err
