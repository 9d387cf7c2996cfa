"""A node's capacity: each filesystem counted once, measured as statvfs says; the status stays wire compatible."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel
from storage_node import capacity
from storage_node.schemas import NodeCapacity, NodeStatus, RebalanceStatus

GIB = 1 << 30


def sample(path: str, device: int, size: int, used: int, free: int) -> capacity.Sample:
    return capacity.Sample(path=path, device=device, capacity_bytes=size, used_bytes=used, free_bytes=free)


def test_mountpaths_on_one_filesystem_count_once() -> None:
    cap = capacity.summarize(
        [
            sample("/data/mp0", 7, 100 * GIB, 40 * GIB, 55 * GIB),
            sample("/data/mp1", 7, 100 * GIB, 40 * GIB, 55 * GIB),
            sample("/disk2/mp2", 9, 50 * GIB, 10 * GIB, 40 * GIB),
        ]
    )
    assert (cap.capacity_bytes, cap.used_bytes, cap.free_bytes) == (150 * GIB, 50 * GIB, 95 * GIB)
    assert [m.path for m in cap.mountpaths] == ["/data/mp0", "/data/mp1", "/disk2/mp2"]
    assert cap.mountpaths[1].capacity_bytes == 100 * GIB  # each mountpath still shows its filesystem


def test_no_mountpath_no_space() -> None:
    cap = capacity.summarize([])
    assert (cap.capacity_bytes, cap.used_bytes, cap.free_bytes, cap.mountpaths) == (0, 0, 0, [])


def test_measure_reads_statvfs_and_skips_what_it_cannot_measure(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    cap = capacity.measure([str(a), str(b), str(tmp_path / "missing")])
    assert [m.path for m in cap.mountpaths] == [str(a), str(b)]
    st = os.statvfs(tmp_path)
    assert cap.capacity_bytes == st.f_blocks * st.f_frsize  # one filesystem, not two
    assert cap.mountpaths[0].capacity_bytes == cap.mountpaths[1].capacity_bytes == cap.capacity_bytes
    assert 0 < cap.free_bytes <= cap.capacity_bytes
    assert cap.used_bytes <= cap.capacity_bytes


class _OldNodeStatus(BaseModel):
    """NodeStatus as it was before `capacity` (what an older operator parses)."""

    id: str
    mountpaths: list[str]
    objects: int
    bytes: int
    map_version: int | None
    rebalance: RebalanceStatus


def test_status_bodies_cross_versions() -> None:
    cap = NodeCapacity(capacity_bytes=10, used_bytes=4, free_bytes=6, mountpaths=[])
    new = NodeStatus(
        id="n0", mountpaths=["/m"], objects=1, bytes=2, map_version=3, rebalance=RebalanceStatus(), capacity=cap
    )
    body = new.model_dump(mode="json")
    assert body["capacity"] == {"capacity_bytes": 10, "used_bytes": 4, "free_bytes": 6, "mountpaths": []}
    old = _OldNodeStatus.model_validate(body)  # an old client reads a new node
    assert old.objects == 1
    back = NodeStatus.model_validate(old.model_dump(mode="json"))  # a new client reads an old node
    assert back.capacity is None and back.objects == 1
