"""A local cluster as one object: ``up``, ``down``, ``status``, ``kubectl``, ``mint_user``.

Used by the CLI, the test fixtures and the benchmark. State lives in one directory (``root``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, ServiceAccount

from localkube import binaries, controlplane, kubeconfigs, kubectling, network, pki, processes
from localkube.layout import Layout
from localkube.node import agents, hostnet
from localkube.node.ranges import Ranges

NODE_KINDS = ("runner", "kubelet")
NODE_ENV = "FERRY_LOCALKUBE_NODE"

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


def default_node_kind() -> str:
    """The kind of node ``up`` starts unless told: ``$FERRY_LOCALKUBE_NODE``, else the pod runner."""
    kind = os.environ.get(NODE_ENV, "runner")
    if kind not in NODE_KINDS:
        raise RuntimeError(f"{NODE_ENV}={kind!r}: expected one of {', '.join(NODE_KINDS)}")
    return kind


class Cluster(kubectling.Kubectl):
    """A local control plane plus its node (the pod runner, or a real kubelet) whose state lives in ``root``."""

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
        """The control plane's loopback address (127.N.0.1)."""
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
    def node_kind(self) -> str:
        """``kubelet`` (a real node: containerd, kubelet, kube-proxy) or ``runner`` (the pod runner)."""
        return str(self.info().get("node", "runner"))

    @property
    def ranges(self) -> Ranges | None:
        """A real node's pod and Service ranges (None with the pod runner)."""
        slot = self.info().get("slot")
        return Ranges(int(slot)) if self.node_kind == "kubelet" and slot is not None else None

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
        nodes: int = 1,
        timeout: float = 180.0,
        progress: Callable[[str], None] = _quiet,
        node: str | None = None,
    ) -> None:
        """Start (or reuse) the control plane and its node; wait until pods can be scheduled and run.

        ``node``: ``kubelet`` for a real node, ``runner`` for the pod runner; default: what this state dir ran
        before, else :func:`default_node_kind`.
        """
        deadline = time.monotonic() + timeout
        info = self.info()
        kind = node or str(info.get("node") or default_node_kind())
        if kind not in NODE_KINDS:
            raise RuntimeError(f"unknown node kind {kind!r}; expected one of {', '.join(NODE_KINDS)}")
        if kind == "kubelet":
            agents.preflight()
            if nodes != 1:
                raise RuntimeError("a real node cluster has exactly one node for now")
        else:
            _preflight()
        bin_dir = bin_dir or binaries.ensure()
        self.root.mkdir(parents=True, exist_ok=True)
        running = controlplane.running(self.layout)
        address = info.get("address")
        slot = info.get("slot")
        fresh = not any(running.values())
        if kind == "kubelet":
            if not isinstance(slot, int) or info.get("node") != "kubelet" or (fresh and _slot_taken(slot)):
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
            services = controlplane.Services(ranges.service_range, ranges.service_ip, endpoints=True)
        else:
            if not isinstance(address, str) or (fresh and not network.ports_free(address)):
                address = network.pick_address(str(self.root))
            slot = network.slot_of(address)
            services = controlplane.Services()
        self._write_info(
            {
                "address": address,
                "bin_dir": str(bin_dir),
                "nodes": nodes,
                "node": kind,
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
            services=services,
        )
        self.kubectl("apply", "-f", "-", input=_STORAGE_CLASS_YAML)
        if kind == "kubelet":
            agents.start(self.layout, bin_dir, Ranges(slot), env, deadline=deadline, progress=progress)
            alive: Callable[[], bool] = lambda: all(agents.running(self.layout).values())  # noqa: E731
            log = self.layout.logs / "kubelet.log"
        else:
            self._start_runner(env, nodes, progress)
            alive = self._runner_alive
            log = self.layout.logs / "runner.log"
        client = Client(KubeConfig.from_file(self.kubeconfig))
        _wait(lambda: _has_sa(client), deadline, "the default ServiceAccount was not created in time")
        names = [f"local-{i + 1}" for i in range(nodes)]
        _wait(
            lambda: all(_node_ready(client, n) for n in names),
            deadline,
            f"node(s) {', '.join(names)} did not become Ready in time; see {log}",
            check=alive,
        )

    def _start_runner(self, env: dict[str, str], nodes: int, progress: Callable[[str], None]) -> None:
        if self._runner_alive():
            return
        progress("starting the pod runner")
        processes.spawn(
            [sys.executable, "-m", "localkube.runner", "--root", str(self.root), "--nodes", str(nodes)],
            log=self.layout.logs / "runner.log",
            env=env,
            pid_file=self.layout.pids / "runner.pid",
        )

    def _runner_alive(self) -> bool:
        rec = processes.read_pid_file(self.layout.pids / "runner.pid")
        return rec is not None and processes.alive(rec)

    def down(self) -> list[int]:
        """Stop everything this cluster started (runner, its pods, extras, control plane); idempotent.

        Returns the pids of stragglers that had to be swept by their environment marker.
        """
        info = self.info()
        bin_dir = Path(info["bin_dir"]) if info.get("bin_dir") else None
        slot = info.get("slot") if info.get("node") == "kubelet" else None
        agents.stop(self.layout, bin_dir, slot)  # the kubelet and its pods first, then containerd
        extras = sorted(p for p in self.layout.pids.glob("*.pid") if p.stem not in (*controlplane.COMPONENTS,))
        for pid_file in extras:  # the runner first (it stops its pods), then operator and friends
            processes.stop_pid_file(pid_file, grace=15.0)
        for pid_file in sorted((self.layout.runner / "pids").glob("*.pid")):
            processes.stop_pid_file(pid_file, grace=5.0)
        controlplane.stop(self.layout)
        swept = processes.sweep(str(self.root))
        agents.clean(self.layout, bin_dir, slot)  # mounts, iptables chains, bridge, routes, sysctls, cgroups
        return swept

    def status(self) -> dict[str, bool]:
        """Which processes are alive, and whether the API server answers /readyz."""
        out = controlplane.running(self.layout)
        if self.node_kind == "kubelet":
            out.update(agents.running(self.layout))
        else:
            out["runner"] = self._runner_alive()
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


def _preflight() -> None:
    """Fail early, naming what is missing, when pods could not run here."""
    for tool in ("unshare", "mount", "openssl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the {tool} command is missing; localkube needs util-linux and openssl")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RuntimeError(
            "the pod runner needs private mount namespaces (run as root): "
            f"`unshare --mount true` failed: {probe.stderr.strip()}"
        )


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
