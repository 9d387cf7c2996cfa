"""What the node volumes of an e2e cluster hold, read from their local PersistentVolumes' directories."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from localkube.cluster import Cluster
from storage_node import maps
from storage_operator.resources.claims import pvc_name

from tests.e2e.operator.ferry_e2e import Dataset, Ferry
from tests.integration.harness import objects_on_disk


def volume_dir(kube: Cluster, ferry: Ferry, node: str) -> Path:
    """The directory on this machine behind `node`'s volume claim (a local PersistentVolume)."""
    claim = kube.get_json("pvc", pvc_name(node), "-n", ferry.namespace)
    return Path(kube.get_json("pv", claim["spec"]["volumeName"])["spec"]["local"]["path"])


def objects_in(path: Path) -> dict[tuple[str, str], str]:
    """(bucket, name) -> checksum of every object on the mountpaths under a volume's directory."""
    return objects_on_disk(sorted(path.glob("mp*")))


def on_disk(kube: Cluster, ferry: Ferry, node: str) -> set[tuple[str, str]]:
    """The objects on `node`'s volume."""
    return set(objects_in(volume_dir(kube, ferry, node)))


def assert_in_place(
    kube: Cluster, ferry: Ferry, ds: Dataset, nodes: list[str], also: Iterable[str] = (), maybe: Iterable[str] = ()
) -> None:
    """Every object is on exactly its proper node by the current map, on no other volume, none lost.

    The objects are `ds`'s and `also` (in `ds.bucket`); `maybe` may be there or not (a write whose answer
    never came), and is then in place too. Anything else on a volume fails.
    """
    placement = maps.Placement(ferry.cluster_map())
    want, optional = set(ds.digests) | set(also), set(maybe)
    seen: dict[str, str] = {}
    for node in nodes:
        for bucket, name in on_disk(kube, ferry, node):
            assert bucket == ds.bucket and name in want | optional, f"unexpected {bucket}/{name} on {node}"
            assert name not in seen, f"{name} on both {seen[name]} and {node}"
            seen[name] = node
            assert placement.owner(bucket, name).id == node, f"{name} on {node}, proper node elsewhere"
    assert want <= set(seen), f"{len(want - set(seen))} objects missing"


def assert_copies(
    kube: Cluster, ferry: Ferry, ds: Dataset, nodes: list[str], also: Iterable[str] = (), maybe: Iterable[str] = ()
) -> None:
    """With K copies: every object on exactly its K holders by the current map (`also`, `maybe` as above)."""
    placement = maps.Placement(ferry.cluster_map())
    want, optional = set(ds.digests) | set(also), set(maybe)
    where: dict[str, set[str]] = {}
    for node in nodes:
        for bucket, name in on_disk(kube, ferry, node):
            assert bucket == ds.bucket and name in want | optional, f"unexpected {bucket}/{name} on {node}"
            where.setdefault(name, set()).add(node)
    assert want <= set(where), f"{len(want - set(where))} objects missing"
    for name, held in where.items():
        assert held == {h.id for h in placement.holders(ds.bucket, name)}, (name, sorted(held))


def settle_copies(
    kube: Cluster,
    ferry: Ferry,
    ds: Dataset,
    nodes: list[str],
    also: Iterable[str] = (),
    maybe: Iterable[str] = (),
    timeout: float = 60.0,
) -> None:
    """`assert_copies`, waited for (bounded): a spare copy made while a holder was down goes once it holds one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert_copies(kube, ferry, ds, nodes, also, maybe)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1.0)
