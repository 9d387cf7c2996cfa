"""Starts and stops the node agents: containerd (with its images), the kubelet, kube-proxy and the provisioner.

Start order: host network (routes first) -> containerd -> image import -> kubelet + kube-proxy + provisioner.
Stop order: agents -> every process in the pods' cgroup -> containerd's tasks -> containerd -> mounts under
the state dir -> kube-proxy's and the kubelet's iptables chains -> host network -> pods' cgroups.
Every process is stopped by its recorded pid (``processes``); every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from localkube import binaries, kubeconfigs, pki, processes
from localkube.layout import Layout
from localkube.node import configs, hostnet
from localkube.node.ranges import Ranges

AGENTS = ("kubelet", "kube-proxy", "coredns", "provisioner")
CGROUP_FS = Path("/sys/fs/cgroup")
IMAGE_SCRIPT = binaries.REPO / "hack" / "image" / "build.sh"
CTR_NAMESPACE = "k8s.io"
PACKAGES = {
    "containerd": "/usr/bin/containerd",
    "ctr": "/usr/bin/ctr",
    "runc": configs.RUNC,
    "bridge (containernetworking-plugins)": f"{configs.CNI_BIN_DIR}/bridge",
    "iptables": "/usr/sbin/iptables",
    "docker.io": "/usr/sbin/dockerd",
    "debootstrap": "/usr/sbin/debootstrap",
}


def dirs_of(layout: Layout) -> configs.NodeDirs:
    """The node's directories inside the cluster's state dir."""
    return configs.NodeDirs(layout.root / "node")


def net_record(layout: Layout) -> Path:
    """The record of what the host network set-up added."""
    return layout.root / "node" / "hostnet.json"


def preflight() -> None:
    """Fail early, naming the Debian package that is missing."""
    missing = [name for name, path in PACKAGES.items() if not os.access(path, os.X_OK)]
    if missing:
        raise RuntimeError(f"a real node needs Debian's {', '.join(missing)} (`make packages` installs them)")
    if os.geteuid() != 0:
        raise RuntimeError("a real node needs root (containerd, the kubelet, routes and iptables)")


def build_images(bin_dir: Path, progress: Callable[[str], None]) -> list[Path]:
    """Build (cached) Ferry's image and the pause image; returns the archives to import."""
    progress("building the images (cached: hack/image/build.sh)")
    proc = subprocess.run([str(IMAGE_SCRIPT), str(bin_dir / "pause")], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{IMAGE_SCRIPT} failed (exit {proc.returncode}); see its messages above")
    return [Path(line) for line in proc.stdout.split() if line.endswith(".tar")]


def sandbox_image(bin_dir: Path) -> str:
    """The pause image's reference, as hack/image/build.sh tags it."""
    version = (bin_dir / "pause.version").read_text().strip()
    return f"localkube/pause:{version}"


def _ctr(dirs: configs.NodeDirs, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["/usr/bin/ctr", "--address", str(dirs.containerd_socket), "--namespace", CTR_NAMESPACE, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`ctr {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def _alive(layout: Layout, name: str) -> bool:
    rec = processes.read_pid_file(layout.pids / f"{name}.pid")
    return rec is not None and processes.alive(rec)


def _spawn(layout: Layout, name: str, argv: list[str], env: Mapping[str, str]) -> None:
    if not _alive(layout, name):
        processes.spawn(argv, log=layout.logs / f"{name}.log", env=env, pid_file=layout.pids / f"{name}.pid")


def _wait(what: str, cond: Callable[[], bool], deadline: float, layout: Layout, name: str) -> None:
    while time.monotonic() < deadline:
        if cond():
            return
        if not _alive(layout, name):
            raise RuntimeError(f"{name} exited while starting; see {layout.logs / (name + '.log')}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} in time; see {layout.logs / (name + '.log')}")


def _cgroup_hierarchies() -> list[Path]:
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and (p / "cgroup.procs").exists())


def _make_cgroups(ranges: Ranges) -> None:
    for h in _cgroup_hierarchies():
        d = h / ranges.cgroup
        d.mkdir(exist_ok=True)
        for f in ("cpuset.cpus", "cpuset.mems"):
            if (d / f).exists() and not (d / f).read_text().strip():
                (d / f).write_text((h / f).read_text())


def start(
    layout: Layout,
    bin_dir: Path,
    ranges: Ranges,
    env: Mapping[str, str],
    *,
    deadline: float,
    progress: Callable[[str], None],
) -> None:
    """Start containerd (and import the images), the kubelet, kube-proxy and the provisioner."""
    dirs = dirs_of(layout)
    for d in (dirs.containerd_root, dirs.containerd_state, dirs.cni_conf_dir, dirs.kubelet_root, dirs.pod_logs):
        d.mkdir(parents=True, exist_ok=True)
    image = sandbox_image(bin_dir)
    dirs.containerd_config.write_text(configs.containerd_toml(dirs, image))
    (dirs.cni_conf_dir / "10-localkube.conflist").write_text(json.dumps(configs.cni_conflist(dirs, ranges), indent=2))
    archives = build_images(bin_dir, progress)
    progress("starting containerd")
    _spawn(layout, "containerd", ["/usr/bin/containerd", "--config", str(dirs.containerd_config)], env)
    _wait(
        "containerd did not answer",
        lambda: _ctr(dirs, "version", check=False).returncode == 0,
        deadline,
        layout,
        "containerd",
    )
    for archive in archives:
        progress(f"importing {archive.name} into containerd ({CTR_NAMESPACE})")
        _ctr(dirs, "images", "import", str(archive))
    _make_cgroups(ranges)
    creds = _node_credentials(layout, ranges)
    ca = pki.ensure_ca(layout.pki)
    kubelet_cfg = configs.kubelet_config(dirs, ranges, ca=ca.cert, cert=creds["serving"].cert, key=creds["serving"].key)
    dirs.kubelet_config.write_text(json.dumps(kubelet_cfg, indent=2))
    kc = layout.component_kubeconfigs
    dirs.proxy_config.write_text(json.dumps(configs.proxy_config(ranges, kc / "kube-proxy.yaml"), indent=2))
    progress("starting the kubelet, kube-proxy, CoreDNS and the volume provisioner")
    _spawn(
        layout,
        "kubelet",
        [
            str(bin_dir / "kubelet"),
            f"--config={dirs.kubelet_config}",
            f"--kubeconfig={kc / 'kubelet.yaml'}",
            f"--root-dir={dirs.kubelet_root}",
            f"--hostname-override={configs.NODE_NAME}",
            f"--node-ip={ranges.gateway}",
        ],
        env,
    )
    _spawn(layout, "kube-proxy", [str(bin_dir / "kube-proxy"), f"--config={dirs.proxy_config}"], env)
    dirs.corefile.write_text(configs.corefile(ranges, layout.kubeconfig))
    _spawn(layout, "coredns", [str(bin_dir / "coredns"), "-conf", str(dirs.corefile)], env)
    _spawn(
        layout,
        "provisioner",
        [sys.executable, "-m", "localkube.node.provisioner", "--kubeconfig", str(layout.kubeconfig),
         "--root", str(dirs.volumes), "--node", configs.NODE_NAME],
        env,
    )  # fmt: skip


def _node_credentials(layout: Layout, ranges: Ranges) -> dict[str, pki.KeyPair]:
    d = layout.pki
    ca = pki.ensure_ca(d)
    server = f"https://{ranges.gateway}:6443"
    out = {"serving": pki.issue(ca, d, f"kubelet-serving-{ranges.slot}", cn=configs.NODE_NAME, ips=[ranges.gateway])}
    for name, cn, orgs in (
        ("kubelet", f"system:node:{configs.NODE_NAME}", ("system:nodes",)),
        ("kube-proxy", "system:kube-proxy", ()),
    ):
        pair = pki.issue(ca, d, name, cn=cn, orgs=orgs)
        kubeconfigs.write(
            layout.component_kubeconfigs / f"{name}.yaml", server=server, ca=ca.cert, user=cn, client=pair
        )
        out[name] = pair
    return out


def running(layout: Layout) -> dict[str, bool]:
    """Which node processes are alive."""
    return {name: _alive(layout, name) for name in ("containerd", *AGENTS)}


def _cgroup_pids(ranges: Ranges) -> set[int]:
    pids: set[int] = set()
    for h in _cgroup_hierarchies():
        top = h / ranges.cgroup
        if not top.is_dir():
            continue
        # os.walk, not rglob: a pod's cgroup that goes while it is walked is skipped, not an error
        for root, _dirs, files in os.walk(top, onerror=lambda _exc: None):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in (Path(root) / "cgroup.procs").read_text().split())
    return pids


def _kill_pods(ranges: Ranges) -> None:
    """SIGKILL every process in the pods' cgroups (the containers, their pause processes), bounded."""
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        pids = _cgroup_pids(ranges)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _remove_cgroups(ranges: Ranges) -> None:
    for h in _cgroup_hierarchies():
        top = h / ranges.cgroup
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo), deepest first."""
    prefix = str(root.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def _unmount_all(root: Path) -> None:
    for _ in range(5):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _iptables_chains(prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table in ("filter", "nat", "mangle"):
        save = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, check=False).stdout
        out[table] = [line[1:].split()[0] for line in save.splitlines() if line.startswith(f":{prefix}")]
    return out


def _remove_kube_chains(bin_dir: Path, layout: Layout) -> None:
    """kube-proxy's own clean-up, then whatever KUBE-* chains the kubelet made (jumps first, then chains)."""
    dirs = dirs_of(layout)
    if dirs.proxy_config.exists():
        subprocess.run(
            [str(bin_dir / "kube-proxy"), "--cleanup", f"--config={dirs.proxy_config}"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    for table, chains in _iptables_chains("KUBE-").items():
        if not chains:
            continue
        save = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, check=False).stdout
        for line in save.splitlines():
            if line.startswith("-A ") and any(f"-j {c}" in line for c in chains) and line.split()[1] not in chains:
                subprocess.run(
                    ["iptables", "-w", "-t", table, "-D", *line.split()[1:]], capture_output=True, check=False
                )
        for chain in chains:
            subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True, check=False)
        for chain in chains:
            subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True, check=False)


def stop(layout: Layout, bin_dir: Path | None, slot: int | None) -> None:
    """Stop the agents and the pods, then containerd; idempotent."""
    for name in AGENTS:
        processes.stop_pid_file(layout.pids / f"{name}.pid", grace=10.0)
    if slot is not None:
        _kill_pods(Ranges(slot))
    dirs = dirs_of(layout)
    rec = processes.read_pid_file(layout.pids / "containerd.pid")
    if rec is not None and processes.alive(rec):
        tasks = _ctr(dirs, "tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            _ctr(dirs, "tasks", "delete", "--force", task, check=False)
    processes.stop_pid_file(layout.pids / "containerd.pid", grace=10.0)


# containerd 1.6 keeps its shims' sockets in /run/containerd/s whatever its config says; removed when empty.
SHIM_DIRS = (Path("/run/containerd/s"), Path("/run/containerd"))


def clean(layout: Layout, bin_dir: Path | None, slot: int | None) -> None:
    """After every process is gone: mounts, iptables chains, the host network, the pods' cgroups."""
    _unmount_all(layout.root)
    if slot is not None:
        for d in SHIM_DIRS:
            with contextlib.suppress(OSError):
                d.rmdir()
    if slot is not None:
        if bin_dir is not None:
            _remove_kube_chains(bin_dir, layout)
        hostnet.teardown(net_record(layout))
        _remove_cgroups(Ranges(slot))
