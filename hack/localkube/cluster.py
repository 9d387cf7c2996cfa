"""A local cluster as one object: ``up``, ``down``, ``status``, ``kubectl``, ``mint_user``.

Used by the CLI, the test fixtures and the benchmark. State lives in one directory (``root``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, ServiceAccount

from localkube import binaries, controlplane, kubeconfigs, kubectling, network, pki, processes
from localkube.layout import Layout
from localkube.node import agents, configs, hostnet
from localkube.node.ranges import Ranges

STORAGE_CLASS = "ferry-local"
PROVISIONER = "ferry.dev/local-dir"
_STORAGE_CLASS_YAML = f"""
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {STORAGE_CLASS}
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: {PROVISIONER}
reclaimPolicy: Delete
volumeBindingMode: Immediate
"""


def _quiet(_: str) -> None:
    pass


class Cluster(kubectling.Kubectl):
    """A local control plane plus one real node (containerd, kubelet, kube-proxy) whose state lives in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.layout = Layout(self.root)

    # -- facts -------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What ``up`` recorded: address, api_url, bin_dir, nodes (empty before the first ``up``)."""
        try:
            data: dict[str, Any] = json.loads(self.layout.info.read_text())
            return data
        except (OSError, ValueError):
            return {}

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""
        return self.layout.kubeconfig

    @property
    def address(self) -> str:
        """The control plane's address: the node bridge's own 10.N.0.1."""
        return str(self.info()["address"])

    @property
    def api_url(self) -> str:
        """The API server's URL."""
        return f"https://{self.address}:{network.API_PORT}"

    @property
    def bin_dir(self) -> Path:
        """The directory holding etcd, kube-*, kubectl and helm."""
        return Path(self.info()["bin_dir"])

    @property
    def ranges(self) -> Ranges | None:
        """The node's pod and Service ranges (None before the first ``up``)."""
        slot = self.info().get("slot")
        return Ranges(int(slot)) if slot is not None else None

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` with KUBECONFIG set to the admin kubeconfig and the bin dir first on PATH."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- lifecycle ---------------------------------------------------------------------------------------

    def up(
        self,
        *,
        bin_dir: Path | None = None,
        timeout: float = 180.0,
        progress: Callable[[str], None] = _quiet,
    ) -> None:
        """Start (or reuse) the control plane and the node; wait until pods can be scheduled and run.

        Order: host network (the unreachable routes first) -> control plane -> containerd (images imported)
        -> kubelet, kube-proxy, CoreDNS, provisioner -> node Ready.
        """
        deadline = time.monotonic() + timeout
        agents.preflight()
        bin_dir = bin_dir or binaries.ensure()
        self.root.mkdir(parents=True, exist_ok=True)
        info = self.info()
        slot = info.get("slot")
        fresh = not any(controlplane.running(self.layout).values())
        if not isinstance(slot, int) or (fresh and _slot_taken(slot)):
            slot = network.slot_of(network.pick_address(str(self.root)))
        ranges = Ranges(slot)
        others = hostnet.other_bridges(ranges)
        if others:
            raise RuntimeError(
                f"another localkube real node runs on this machine (bridge {', '.join(others)}); "
                "one at a time: stop it first (`python -m localkube --root DIR down`)"
            )
        # The routes come first: before anything starts, no pod or Service address can leave the machine.
        hostnet.setup(ranges, agents.net_record(self.layout))
        address = ranges.gateway
        self._write_info(
            {
                "address": address,
                "bin_dir": str(bin_dir),
                "slot": slot,
                "api_url": f"https://{address}:{network.API_PORT}",
            }
        )
        env = controlplane.environment(self.root)
        controlplane.start(
            self.layout,
            bin_dir,
            address,
            env,
            timeout=max(1.0, deadline - time.monotonic()),
            progress=progress,
            services=controlplane.Services(ranges.service_range, ranges.service_ip),
        )
        self.kubectl("apply", "-f", "-", input=_STORAGE_CLASS_YAML)
        agents.start(self.layout, bin_dir, ranges, env, deadline=deadline, progress=progress)
        client = Client(KubeConfig.from_file(self.kubeconfig))
        _wait(lambda: _has_sa(client), deadline, "the default ServiceAccount was not created in time")
        _wait(
            lambda: _node_ready(client, configs.NODE_NAME),
            deadline,
            f"node {configs.NODE_NAME} did not become Ready in time; see {self.layout.logs / 'kubelet.log'}",
            check=lambda: all(agents.running(self.layout).values()),
        )

    def down(self) -> list[int]:
        """Stop everything this cluster started (node agents, pods, extras, control plane); idempotent.

        Returns the pids of stragglers that had to be swept by their environment marker.
        """
        info = self.info()
        bin_dir = Path(info["bin_dir"]) if info.get("bin_dir") else None
        slot = info.get("slot")
        agents.stop(self.layout, bin_dir, slot)  # the kubelet and its pods first, then containerd
        extras = sorted(p for p in self.layout.pids.glob("*.pid") if p.stem not in (*controlplane.COMPONENTS,))
        for pid_file in extras:
            processes.stop_pid_file(pid_file, grace=15.0)
        controlplane.stop(self.layout)
        swept = processes.sweep(str(self.root))
        agents.clean(self.layout, bin_dir, slot)  # mounts, iptables chains, bridge, routes, sysctls, cgroups
        return swept

    def status(self) -> dict[str, bool]:
        """Which processes are alive, and whether the API server answers /readyz."""
        out = controlplane.running(self.layout)
        out.update(agents.running(self.layout))
        for pid_file in sorted(self.layout.pids.glob("*.pid")):
            if pid_file.stem not in out:
                rec = processes.read_pid_file(pid_file)
                out[pid_file.stem] = rec is not None and processes.alive(rec)
        out["api-ready"] = bool(self.info()) and self.api_ready()
        return out

    def api_ready(self) -> bool:
        """Whether the API server answers /readyz with 200 to the admin."""
        ctx = controlplane.client_context(
            self.layout.pki / "ca.crt",
            pki.KeyPair(self.layout.pki / "admin.crt", self.layout.pki / "admin.key"),
        )
        return controlplane.http_get(f"{self.api_url}/readyz", ctx)[0] == 200

    def leftovers(self) -> list[int]:
        """Pids of live processes started for this cluster (by their environment marker)."""
        return list(processes.marked(str(self.root)))

    def wipe(self) -> None:
        """Remove the state directory (after ``down``)."""
        shutil.rmtree(self.root, ignore_errors=True)

    # -- use ---------------------------------------------------------------------------------------------

    def kubeconfig_for(self, user: str | None) -> Path:
        """The admin kubeconfig, or that of a user minted with :meth:`mint_user`."""
        return self.kubeconfig if user is None else self.layout.users / f"{user}.yaml"

    def kubectl_path(self) -> Path:
        """The pinned kubectl."""
        return self.bin_dir / "kubectl"

    def mint_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """Write (once) a kubeconfig for user ``name`` in ``groups`` (client-certificate authentication)."""
        ca = pki.ensure_ca(self.layout.pki)
        pair = pki.issue(ca, self.layout.users, name, cn=name, orgs=groups)
        return kubeconfigs.write(
            self.layout.users / f"{name}.yaml", server=self.api_url, ca=ca.cert, user=name, client=pair
        )

    def _write_info(self, data: dict[str, Any]) -> None:
        tmp = self.layout.info.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.layout.info)


def _slot_taken(slot: int) -> bool:
    """Whether another cluster's bridge or control plane holds ``slot``'s addresses."""
    return hostnet.bridge_up(Ranges(slot)) or not network.ports_free(network.address_of(slot))


def _wait(cond: Callable[[], bool], deadline: float, message: str, check: Callable[[], bool] | None = None) -> None:
    while time.monotonic() < deadline:
        if cond():
            return
        if check is not None and not check():
            raise RuntimeError(message + " (process exited)")
        time.sleep(0.2)
    raise TimeoutError(message)


def _has_sa(client: Client) -> bool:
    try:
        client.get(ServiceAccount, "default", namespace="default")
        return True
    except ApiError:
        return False


def _node_ready(client: Client, name: str) -> bool:
    try:
        node = client.get(Node, name)
    except ApiError:
        return False
    conds = node.status.conditions if node.status and node.status.conditions else []
    return any(c.type == "Ready" and c.status == "True" for c in conds)
