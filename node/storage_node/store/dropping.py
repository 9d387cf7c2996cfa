"""Dropping whole buckets: their objects moved to the trash and removed, their tombstones and hand-overs forgotten."""

from __future__ import annotations

import os
import shutil
import uuid

from storage_node import roots
from storage_node.store.handover import HandOvers
from storage_node.store.index import Index
from storage_node.store.placement import Placement
from storage_node.store.tombstones import Tombstones


def drop_bucket(placement: Placement, index: Index, tombs: Tombstones, handovers: HandOvers, bucket: str) -> int:
    """Forget a bucket: its objects and tombstones go; the number of objects removed."""
    count = index.drop_bucket(bucket)
    handovers.forget_bucket(bucket)
    tombs.forget_bucket(bucket)
    for mp in placement.every():
        src = roots.under(mp, "ferry", "objs", bucket)
        if src.is_dir() and not src.is_symlink():
            dst = roots.under(mp, "ferry", "trash", f"{bucket}.{uuid.uuid4().hex}")
            os.replace(src, dst)
            shutil.rmtree(dst, ignore_errors=True)
    tombs.erase_bucket(bucket)
    return count


def drop_all(placement: Placement, index: Index, tombs: Tombstones, handovers: HandOvers) -> int:
    """Remove every object from the mountpaths (decommission with user data); the count removed."""
    count = index.total_objects
    for bucket in index.buckets():
        drop_bucket(placement, index, tombs, handovers, bucket)
    return count
