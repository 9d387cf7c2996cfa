"""The address ranges of a real-node cluster: all private, all on this machine (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ranges:
    """Pod, bridge and Service ranges of cluster slot ``slot`` (the same slot as its 127.N.0.1 control plane).

    Pods: ``10.N.0.0/17``, of which node 1's bridge holds ``10.N.0.0/24`` (gateway ``10.N.0.1``, also the
    address the control plane and the node agents bind, so that pods reach the API server); Services:
    ``10.N.128.0/20``. Everything in both ranges but the bridge's subnet is routed ``unreachable``.
    """

    slot: int

    @property
    def pod_range(self) -> str:
        """The cluster's pod range (kube-proxy's clusterCIDR)."""
        return f"10.{self.slot}.0.0/17"

    @property
    def bridge_subnet(self) -> str:
        """Node 1's pod subnet, on its bridge."""
        return f"10.{self.slot}.0.0/24"

    @property
    def gateway(self) -> str:
        """The bridge's own address: pods' gateway, the node IP, the control plane's address."""
        return f"10.{self.slot}.0.1"

    @property
    def service_range(self) -> str:
        """The Service (ClusterIP) range."""
        return f"10.{self.slot}.128.0/20"

    @property
    def service_ip(self) -> str:
        """The ClusterIP of Service ``kubernetes``."""
        return f"10.{self.slot}.128.1"

    @property
    def bridge(self) -> str:
        """The bridge's interface name."""
        return f"lkbr{self.slot}"

    @property
    def chain(self) -> str:
        """The iptables chain (filter table) that confines forwarding to the bridge."""
        return f"LOCALKUBE-FWD-{self.slot}"

    @property
    def cgroup(self) -> str:
        """The cgroup under which the kubelet puts every pod (its cgroupRoot)."""
        return f"localkube-{self.slot}"

    @property
    def unreachable(self) -> tuple[str, ...]:
        """The routes that make every other address of both ranges die here."""
        return (self.pod_range, self.service_range)
