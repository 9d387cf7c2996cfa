"""The host side of a real node: its bridge, unreachable routes, forwarding rules and sysctls; undone exactly.

Everything ``setup`` adds is written to a record file first, and ``teardown`` removes what the record names
(bridge, routes, the iptables chain and its jump, sysctl values restored), so ``make dev-down`` leaves the
host as it found it. No packet leaves: every pod and Service address outside the bridge's subnet is routed
``unreachable``, and forwarding is allowed only from the bridge back to the bridge.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from localkube.node.ranges import Ranges

SYSCTL = Path("/proc/sys")
# Set by the kubelet at start (its kernel defaults) and by us (forwarding for Services on the bridge);
# restored by teardown to the values found before.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
FORWARD = "net/ipv4/ip_forward"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc


def routes(ranges: Ranges) -> list[str]:
    """The unreachable routes of ``ranges`` that exist now (as ``ip route`` prints their prefixes)."""
    out = _run("ip", "-j", "route", "show", "type", "unreachable").stdout
    have = {r.get("dst", "") for r in json.loads(out or "[]")}
    return [r for r in ranges.unreachable if r in have]


def bridge_up(ranges: Ranges) -> bool:
    """Whether the node's bridge exists and holds its gateway address."""
    out = _run("ip", "-j", "addr", "show", "dev", ranges.bridge, check=False)
    if out.returncode != 0:
        return False
    addrs = [a.get("local") for link in json.loads(out.stdout or "[]") for a in link.get("addr_info", [])]
    return ranges.gateway in addrs


def other_bridges(ranges: Ranges) -> list[str]:
    """Bridges of other localkube real nodes on this machine (their kube-proxy's chains would clash)."""
    names = [
        line.split(":")[1].strip() for line in _run("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines()
    ]
    return [n for n in names if n.startswith("lkbr") and n != ranges.bridge]


def _read(key: str) -> str:
    return (SYSCTL / key).read_text().strip()


def _write(key: str, value: str) -> None:
    (SYSCTL / key).write_text(value + "\n")


def setup(ranges: Ranges, record: Path) -> None:
    """Add the routes, the bridge and the forwarding rules (idempotent); record them before adding them."""
    state: dict[str, Any] = _load(record)
    sysctls: dict[str, str] = state.setdefault("sysctls", {})
    for key in (*KUBELET_SYSCTLS, FORWARD):
        if (SYSCTL / key).exists():
            sysctls.setdefault(key, _read(key))
    state.update({"slot": ranges.slot, "routes": list(ranges.unreachable), "bridge": ranges.bridge})
    state["chain"] = ranges.chain
    _save(record, state)
    # Routes first: from here on a packet to any pod or Service address that is not on the bridge dies here.
    for prefix in ranges.unreachable:
        if prefix not in routes(ranges):
            _run("ip", "route", "add", "unreachable", prefix)
    if _run("ip", "link", "show", "dev", ranges.bridge, check=False).returncode != 0:
        _run("ip", "link", "add", ranges.bridge, "type", "bridge")
    if not bridge_up(ranges):
        _run("ip", "addr", "add", f"{ranges.gateway}/24", "dev", ranges.bridge)
    _run("ip", "link", "set", ranges.bridge, "up")
    # Forwarding (a pod reaching a Service on its own bridge goes through the host): bridge to bridge only.
    chain = ranges.chain
    if _run("iptables", "-w", "-t", "filter", "-n", "-L", chain, check=False).returncode != 0:
        _run("iptables", "-w", "-t", "filter", "-N", chain)
    _run("iptables", "-w", "-t", "filter", "-F", chain)
    _run("iptables", "-w", "-t", "filter", "-A", chain, "-i", ranges.bridge, "-o", ranges.bridge, "-j", "ACCEPT")
    _run("iptables", "-w", "-t", "filter", "-A", chain, "-i", ranges.bridge, "-j", "REJECT")
    _run("iptables", "-w", "-t", "filter", "-A", chain, "-o", ranges.bridge, "-j", "REJECT")
    if _run("iptables", "-w", "-t", "filter", "-C", "FORWARD", "-j", chain, check=False).returncode != 0:
        _run("iptables", "-w", "-t", "filter", "-I", "FORWARD", "1", "-j", chain)
    _write(FORWARD, "1")


def teardown(record: Path) -> list[str]:
    """Remove everything the record names and restore the recorded sysctls; returns what it undid."""
    state = _load(record)
    if not state:
        return []
    done: list[str] = []
    chain = state.get("chain")
    if chain:
        while _run("iptables", "-w", "-t", "filter", "-D", "FORWARD", "-j", chain, check=False).returncode == 0:
            done.append(f"iptables FORWARD -j {chain}")
        if _run("iptables", "-w", "-t", "filter", "-F", chain, check=False).returncode == 0:
            _run("iptables", "-w", "-t", "filter", "-X", chain, check=False)
            done.append(f"iptables chain {chain}")
    bridge = state.get("bridge")
    if bridge:
        _release_ports(bridge)
    if bridge and _run("ip", "link", "del", bridge, check=False).returncode == 0:
        done.append(f"bridge {bridge}")
    for prefix in state.get("routes", []):
        if _run("ip", "route", "del", "unreachable", prefix, check=False).returncode == 0:
            done.append(f"route unreachable {prefix}")
    for key, value in state.get("sysctls", {}).items():
        with contextlib.suppress(OSError):
            if _read(key) != value:
                _write(key, value)
                done.append(f"sysctl {key}={value}")
    record.unlink()
    return done


def _ports(bridge: str) -> list[str]:
    out = _run("ip", "-o", "link", "show", "master", bridge, check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def _release_ports(bridge: str, timeout: float = 15.0) -> None:
    """Wait (bounded) for the pods' veth ends to go with their network namespaces; delete any that stay."""
    deadline = time.monotonic() + timeout
    while _ports(bridge) and time.monotonic() < deadline:
        time.sleep(0.2)
    for port in _ports(bridge):
        _run("ip", "link", "del", port, check=False)


def _load(record: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(record.read_text())
        return data
    except (OSError, ValueError):
        return {}


def _save(record: Path, state: dict[str, Any]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(record)


def snapshot() -> dict[str, list[str]]:
    """What the host holds now (routes of every table, links, iptables chains, sysctls): for leftover checks."""
    route_lines = _run("ip", "-o", "route", "show", "table", "all").stdout.splitlines()
    links = [line.split(":")[1].strip().split("@")[0] for line in _run("ip", "-o", "link", "show").stdout.splitlines()]
    chains = []
    for table in ("filter", "nat", "mangle", "raw"):
        save = _run("iptables-save", "-t", table, check=False).stdout
        chains += [f"{table}:{line[1:].split()[0]}" for line in save.splitlines() if line.startswith(":")]
    sysctls = [f"{key}={_read(key)}" for key in (*KUBELET_SYSCTLS, FORWARD) if (SYSCTL / key).exists()]
    return {"routes": sorted(route_lines), "links": sorted(links), "chains": sorted(chains), "sysctls": sysctls}
