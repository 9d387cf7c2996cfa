"""Resilvering: moving every object to its proper local mountpath, then letting go of the legacy ones."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from storage_node import fileio
from storage_node.store.format import ObjMeta, path_of
from storage_node.store.index import Index
from storage_node.store.placement import Placement

log = logging.getLogger(__name__)


def misplaced_locally(placement: Placement, index: Index) -> Iterator[ObjMeta]:
    """Objects not on their proper local mountpath."""
    for meta in index.snapshot():
        if meta.mountpath != placement.proper(meta.bucket, meta.name):
            yield meta


async def resilver(placement: Placement, state_dir: Path, index: Index) -> int:
    """Move every object to its proper mountpath; reads keep working (the index switches atomically)."""
    moved = 0
    for meta in list(misplaced_locally(placement, index)):
        if index.get(meta.bucket, meta.name) is not meta:
            continue
        target = placement.proper(meta.bucket, meta.name)
        src = path_of(meta.mountpath, meta.bucket, meta.name)
        tmp = Path(target, "ferry", "tmp", uuid.uuid4().hex)
        try:
            try:
                os.link(src, tmp)
            except OSError:
                await asyncio.to_thread(shutil.copyfile, src, tmp)
        except OSError as exc:  # e.g. the target is full: the object stays where it is, readable
            tmp.unlink(missing_ok=True)
            log.warning("resilver: cannot move %s/%s to %s: %s", meta.bucket, meta.name, target, exc)
            continue
        if index.get(meta.bucket, meta.name) is not meta:
            tmp.unlink(missing_ok=True)
            continue
        dst = path_of(target, meta.bucket, meta.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dst)
        new = ObjMeta(meta.bucket, meta.name, meta.size, meta.cksum, meta.version, target)
        index.add(new)
        src.unlink(missing_ok=True)
        moved += 1
        await asyncio.sleep(0)
    if placement.legacy:
        for mp in placement.legacy:
            shutil.rmtree(Path(mp, "ferry"), ignore_errors=True)
        placement.legacy = []
        fileio.write_json(state_dir / "mountpaths.json", sorted(placement.current), fsync=True)
    return moved
