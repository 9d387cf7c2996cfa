"""Filesystem space of a node's mountpaths (``os.statvfs``), each filesystem counted once in the node's totals.

Per mountpath: capacity = ``f_blocks``, used = ``f_blocks - f_bfree``, free = ``f_bavail`` (what this
node's user may still write), all times ``f_frsize``; as ``df`` shows them, so used + free may fall short of
capacity by the blocks a filesystem reserves for root. Mountpaths on the same device (``st_dev``) share one
filesystem: the node's totals count it once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from storage_node.schemas import MountpathCapacity, NodeCapacity

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    """One mountpath's filesystem as measured: its device and space."""

    path: str
    device: int
    capacity_bytes: int
    used_bytes: int
    free_bytes: int


def summarize(samples: list[Sample]) -> NodeCapacity:
    """The node's capacity: every mountpath, and totals that count each device once (pure)."""
    seen: set[int] = set()
    total = used = free = 0
    for s in samples:
        if s.device in seen:
            continue
        seen.add(s.device)
        total += s.capacity_bytes
        used += s.used_bytes
        free += s.free_bytes
    return NodeCapacity(
        capacity_bytes=total,
        used_bytes=used,
        free_bytes=free,
        mountpaths=[
            MountpathCapacity(
                path=s.path, capacity_bytes=s.capacity_bytes, used_bytes=s.used_bytes, free_bytes=s.free_bytes
            )
            for s in samples
        ],
    )


def sample(path: str) -> Sample:
    """Measure the filesystem holding `path` now (OSError if it cannot be)."""
    st = os.statvfs(path)
    return Sample(
        path=path,
        device=os.stat(path).st_dev,
        capacity_bytes=st.f_blocks * st.f_frsize,
        used_bytes=(st.f_blocks - st.f_bfree) * st.f_frsize,
        free_bytes=st.f_bavail * st.f_frsize,
    )


def measure(mountpaths: list[str]) -> NodeCapacity:
    """The node's capacity now; a mountpath that cannot be measured is left out (and logged)."""
    samples: list[Sample] = []
    for path in mountpaths:
        try:
            samples.append(sample(path))
        except OSError as exc:
            log.warning("cannot measure mountpath %s: %s", path, exc)
    return summarize(samples)
