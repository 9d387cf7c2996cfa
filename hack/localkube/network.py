"""Cluster slots and ports: slot N is free when its 127.N.0.1 is; the ranges of slot N are in ``node.ranges``."""

from __future__ import annotations

import contextlib
import hashlib
import socket

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
API_PORT = 6443
KUBELET_PORT = 10250
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
PORTS = (ETCD_CLIENT_PORT, ETCD_PEER_PORT, API_PORT, KUBELET_PORT, CONTROLLER_MANAGER_PORT, SCHEDULER_PORT)

_SLOTS = range(16, 250)


def address_of(slot: int) -> str:
    """The control-plane address of cluster slot ``slot``."""
    return f"127.{slot}.0.1"


def slot_of(address: str) -> int:
    """The slot (second octet) of a control-plane address."""
    return int(address.split(".")[1])


def ports_free(address: str) -> bool:
    """Whether every control-plane port can be bound on ``address``."""
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def pick_address(seed: str) -> str:
    """A free control-plane address; the search starts at a slot derived from ``seed`` (the state dir)."""
    first = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % len(_SLOTS)
    for i in range(len(_SLOTS)):
        address = address_of(_SLOTS[(first + i) % len(_SLOTS)])
        if ports_free(address):
            return address
    raise RuntimeError("no free 127.N.0.1 address for a local cluster (all control-plane ports are taken)")


def port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``address:port``."""
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=timeout):
        return True
    return False
