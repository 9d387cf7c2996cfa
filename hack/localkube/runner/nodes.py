"""Registers the runner's Nodes and keeps them Ready (status heartbeat and Lease renewal)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from localkube.runner.pods import now_iso

log = logging.getLogger("localkube.runner.nodes")
KUBELET_VERSION = "v1.34.4"
HEARTBEAT = 10.0
MANAGER = "localkube-runner"


def _memory_ki() -> str:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return f"{line.split()[1]}Ki"
    return "0"


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _status(name: str, address: str, port: int) -> dict[str, Any]:
    now = now_iso()
    resources = {
        "cpu": str(os.cpu_count() or 1),
        "memory": _memory_ki(),
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }
    conditions = [
        ("Ready", "True", "KubeletReady", "localkube runner is posting ready status"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
    ]
    return {
        "capacity": resources,
        "allocatable": resources,
        "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "conditions": [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": m,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for t, s, r, m in conditions
        ],
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": platform.release(),
            "osImage": "localkube (processes on the host)",
            "containerRuntimeVersion": "localkube://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _arch(),
        },
    }


async def register(client: AsyncClient, name: str, address: str, port: int) -> None:
    """Create the Node (if missing) and post its first Ready status."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": _arch(),
                "localkube.ferry.dev/node": "true",
            },
        },
    }
    try:
        await client.create(codecs.from_dict(node))
    except ApiError as e:
        if e.status.code != 409:
            raise
    await beat(client, name, address, port)


async def beat(client: AsyncClient, name: str, address: str, port: int) -> None:
    """One heartbeat: node status conditions and the node Lease."""
    await client.patch(Node.Status, name, {"status": _status(name, address, port)}, patch_type=PatchType.STRATEGIC)
    renew = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": renew},
    }
    await client.apply(codecs.from_dict(lease), field_manager=MANAGER, force=True)


async def keep_ready(client: AsyncClient, names: list[str], address: str, port: int) -> None:
    """Heartbeat every node every few seconds, forever."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        for name in names:
            try:
                await beat(client, name, address, port)
            except Exception as e:  # keep beating through API hiccups
                log.warning("heartbeat of node %s failed: %s", name, e)
