"""Where a local cluster keeps its files: one state directory per cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths inside a cluster's state directory."""

    root: Path

    @property
    def info(self) -> Path:
        """The cluster's address, ports and bin dir (JSON), written by ``up``."""
        return self.root / "cluster.json"

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        """One pid file per background process started by the launcher."""
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        """etcd's data directory."""
        return self.root / "etcd"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""
        return self.root / "kubeconfig"

    @property
    def component_kubeconfigs(self) -> Path:
        """Kubeconfigs of the controller manager, scheduler, kubelet and kube-proxy."""
        return self.root / "kubeconfigs"

    @property
    def users(self) -> Path:
        """Kubeconfigs minted for non-admin users."""
        return self.root / "users"
