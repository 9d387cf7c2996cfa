"""The storage-node processes of the node pods, as seen from this machine (to freeze or kill one as a fault)."""

from __future__ import annotations

from pathlib import Path

from localkube.cluster import Cluster

from tests.e2e.operator.ferry_e2e import Ferry


def node_process(kube: Cluster, ferry: Ferry, node: str) -> int:
    """The host pid of `node`'s storage-node process (found by its pod's uid in the process's cgroup)."""
    uid = kube.get_json("pod", f"{node}-pod", "-n", ferry.namespace)["metadata"]["uid"]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cgroup, cmdline = (proc / "cgroup").read_text(), (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if (uid in cgroup or uid.replace("-", "_") in cgroup) and b"storage_node" in cmdline:
            return int(proc.name)
    raise AssertionError(f"no storage-node process of {node}-pod ({uid}) on this machine")
