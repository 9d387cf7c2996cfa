"""Configuration files of containerd, CNI, the kubelet and kube-proxy for one real node (pure builders)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkube.node.ranges import Ranges

NODE_NAME = "local-1"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
PROXY_HEALTHZ_PORT = 10256
PROXY_METRICS_PORT = 10249
CNI_BIN_DIR = "/usr/lib/cni"
RUNC = "/usr/sbin/runc"
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class NodeDirs:
    """Where one node keeps its state, all inside the cluster's state directory."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        """containerd's persistent root (images, snapshots)."""
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        """containerd's runtime state (tasks, sandbox network namespaces)."""
        return self.root / "run"

    @property
    def containerd_socket(self) -> Path:
        """containerd's gRPC socket (kept short: unix socket paths are limited)."""
        return self.root / "run" / "c.sock"

    @property
    def containerd_config(self) -> Path:
        """containerd's config.toml."""
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        """The CNI network configuration directory."""
        return self.root / "cni" / "net.d"

    @property
    def ipam_dir(self) -> Path:
        """host-local IPAM's allocations."""
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's --root-dir (pods' volumes are mounted below)."""
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        """Containers' log files."""
        return self.root / "pod-logs"

    @property
    def kubelet_config(self) -> Path:
        """The KubeletConfiguration file."""
        return self.root / "kubelet.yaml"

    @property
    def proxy_config(self) -> Path:
        """The KubeProxyConfiguration file."""
        return self.root / "kube-proxy.yaml"

    @property
    def corefile(self) -> Path:
        """CoreDNS's Corefile."""
        return self.root / "Corefile"

    @property
    def volumes(self) -> Path:
        """Directories of the local PersistentVolumes."""
        return self.root / "volumes"


def containerd_toml(dirs: NodeDirs, sandbox_image: str) -> str:
    """containerd 1.6 config: CRI with runc (cgroupfs), CNI from ``dirs``, nothing outside ``dirs``.

    ``restrict_oom_score_adj``: runc may not lower the sandbox's OOM score here (no CAP_SYS_RESOURCE).
    """
    disabled = [
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.internal.v1.opt",
        "io.containerd.tracing.processor.v1.otlp",
    ]
    return f"""version = 2
root = {json.dumps(str(dirs.containerd_root))}
state = {json.dumps(str(dirs.containerd_state))}
disabled_plugins = {json.dumps(disabled)}
oom_score = 0

[grpc]
  address = {json.dumps(str(dirs.containerd_socket))}

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {json.dumps(sandbox_image)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = {json.dumps(RUNC)}
        Root = {json.dumps(str(dirs.containerd_state / "runc"))}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {json.dumps(CNI_BIN_DIR)}
    conf_dir = {json.dumps(str(dirs.cni_conf_dir))}
    max_conf_num = 1
"""


def cni_conflist(dirs: NodeDirs, ranges: Ranges) -> dict[str, Any]:
    """The pod network: the node's bridge with host-local IPAM; no masquerading (nothing is NATed out).

    Pods get no default route: only the pod and Service ranges are routed (through the bridge's address), so
    a pod's packet to any other address fails in the pod itself.
    """
    return {
        "cniVersion": "0.4.0",
        "name": "localkube",
        "plugins": [
            {
                "type": "bridge",
                "bridge": ranges.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(dirs.ipam_dir),
                    "ranges": [[{"subnet": ranges.bridge_subnet, "gateway": ranges.gateway}]],
                    "routes": [{"dst": ranges.pod_range}, {"dst": ranges.service_range}],
                },
            },
        ],
    }


def kubelet_config(dirs: NodeDirs, ranges: Ranges, *, ca: Path, cert: Path, key: Path) -> dict[str, Any]:
    """KubeletConfiguration: cgroupfs on cgroup v1, no swap check, no DNS inherited from the host.

    Image garbage collection is off (the images are imported, never pulled) and the eviction thresholds are
    low, so that a busy test machine's disk does not evict the pods under test.
    """
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": ranges.gateway,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": ranges.gateway,
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{ranges.cgroup}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{dirs.containerd_socket}",
        "podLogsDir": str(dirs.pod_logs),
        "resolvConf": "",
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [ranges.gateway],
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "imageMinimumGCAge": "8760h",
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "maxPods": 110,
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "nodeStatusUpdateFrequency": "5s",
        "volumePluginDir": str(dirs.kubelet_root / "volume-plugins"),
        "registerNode": True,
        "shutdownGracePeriod": "0s",
        "logging": {"verbosity": 1},
    }


def proxy_config(ranges: Ranges, kubeconfig: Path) -> dict[str, Any]:
    """KubeProxyConfiguration (iptables) that changes no host sysctl and opens nothing on other addresses.

    conntrack settings 0 leave the kernel's values alone; ``localhostNodePorts: false`` keeps
    route_localnet untouched; NodePorts answer on the node's bridge address only; ``masqueradeAll`` makes a
    pod reaching a Service on its own bridge get the answer back through the host (no br_netfilter needed).
    """
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": ranges.gateway,
        "healthzBindAddress": f"{ranges.gateway}:{PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"{ranges.gateway}:{PROXY_METRICS_PORT}",
        "clusterCIDR": ranges.pod_range,
        "nodePortAddresses": [f"{ranges.gateway}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
        "logging": {"verbosity": 1},
    }


def corefile(ranges: Ranges, kubeconfig: Path) -> str:
    """CoreDNS on the bridge's address: the cluster's names from the API; every other name is NXDOMAIN.

    Nothing is forwarded to any other server, so a name lookup never leaves the machine.
    """
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {ranges.gateway}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl 5
    }}
}}
.:53 {{
    bind {ranges.gateway}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
