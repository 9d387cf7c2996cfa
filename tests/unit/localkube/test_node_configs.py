"""The real node's configuration keeps every packet on this machine and changes no host sysctl (pure checks)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from localkube.node import configs
from localkube.node.ranges import Ranges

RANGES = Ranges(42)
DIRS = configs.NodeDirs(Path("/state/node"))


def test_ranges_are_private_and_the_bridge_is_inside_the_pod_range() -> None:
    pods = ipaddress.IPv4Network(RANGES.pod_range)
    services = ipaddress.IPv4Network(RANGES.service_range)
    bridge = ipaddress.IPv4Network(RANGES.bridge_subnet)
    assert pods.is_private and services.is_private
    assert bridge.subnet_of(pods) and not pods.overlaps(services)
    assert ipaddress.ip_address(RANGES.gateway) in bridge and ipaddress.ip_address(RANGES.service_ip) in services
    assert set(RANGES.unreachable) == {RANGES.pod_range, RANGES.service_range}


def test_cni_does_not_masquerade_and_gives_pods_no_default_route() -> None:
    (bridge,) = configs.cni_conflist(DIRS, RANGES)["plugins"]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False and not bridge.get("isDefaultGateway")
    routes = {r["dst"] for r in bridge["ipam"]["routes"]}
    assert routes == {RANGES.pod_range, RANGES.service_range}
    assert "0.0.0.0/0" not in routes


def test_kube_proxy_changes_no_sysctl() -> None:
    cfg = configs.proxy_config(RANGES, Path("/k"))
    assert all(v in (0, "0s") for v in cfg["conntrack"].values())
    assert cfg["iptables"]["localhostNodePorts"] is False
    assert cfg["nodePortAddresses"] == [f"{RANGES.gateway}/32"]


def test_kubelet_runs_on_cgroup_v1_without_swap_checks_and_inherits_no_dns() -> None:
    cfg = configs.kubelet_config(DIRS, RANGES, ca=Path("/ca"), cert=Path("/c"), key=Path("/k"))
    assert cfg["cgroupDriver"] == "cgroupfs" and cfg["failCgroupV1"] is False and cfg["failSwapOn"] is False
    assert cfg["resolvConf"] == "" and cfg["clusterDNS"] == [RANGES.gateway]
    assert cfg["authentication"]["anonymous"]["enabled"] is False


def test_containerd_restricts_oom_score_and_keeps_its_state_in_the_state_dir() -> None:
    toml = configs.containerd_toml(DIRS, "localkube/pause:3.10.1")
    assert "restrict_oom_score_adj = true" in toml
    assert "netns_mounts_under_state_dir = true" in toml
    assert 'sandbox_image = "localkube/pause:3.10.1"' in toml
    for line in toml.splitlines():
        if line.strip().startswith(("root =", "state =", "address =", "Root =", "conf_dir =")) and '""' not in line:
            assert '"/state/node' in line, line


def test_coredns_forwards_nowhere() -> None:
    corefile = configs.corefile(RANGES, Path("/k"))
    assert "forward" not in corefile and "proxy" not in corefile
    assert corefile.count(f"bind {RANGES.gateway}") == 2 and "rcode NXDOMAIN" in corefile
