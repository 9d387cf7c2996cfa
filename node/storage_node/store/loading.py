"""Loading at start: empty the temp and trash dirs, find legacy mountpaths, read tombstones, scan every object."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from storage_node import clock, fileio
from storage_node.store.format import path_of, read_header
from storage_node.store.index import Index
from storage_node.store.placement import Placement
from storage_node.store.tombstones import Tombstones

log = logging.getLogger(__name__)


def load(placement: Placement, state_dir: Path, index: Index, tombs: Tombstones) -> None:
    """Scan mountpaths (current and previously configured ones still on disk) and tombstones."""
    for mp in placement.current:
        for sub in ("objs", "tmp", "trash"):
            Path(mp, "ferry", sub).mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "trash"):  # emptied, not re-created: a node must start on a full volume
            for left in Path(mp, "ferry", sub).iterdir():
                if left.is_dir():
                    shutil.rmtree(left, ignore_errors=True)
                else:
                    left.unlink(missing_ok=True)
    known = fileio.read_json(state_dir / "mountpaths.json") or []
    placement.legacy = [mp for mp in known if mp not in placement.current and Path(mp, "ferry", "objs").is_dir()]
    tombs.load()
    for mp in placement.every():
        _scan(placement, index, tombs, mp)
    current = sorted({*placement.current, *placement.legacy})
    if known != current:  # only when it changed: a node must start on a full volume
        fileio.write_json(state_dir / "mountpaths.json", current, fsync=True)


def _scan(placement: Placement, index: Index, tombs: Tombstones, mp: str) -> None:
    root = Path(mp, "ferry", "objs")
    for bdir in root.iterdir():
        for sub in bdir.iterdir():
            for f in sub.iterdir():
                _scan_file(placement, index, tombs, mp, f)


def _scan_file(placement: Placement, index: Index, tombs: Tombstones, mp: str, f: Path) -> None:
    try:
        with open(f, "rb") as fh:
            parsed = read_header(fh)
    except (OSError, ValueError):
        parsed = None
    if parsed is None:
        log.warning("removing unreadable object file %s", f)
        f.unlink(missing_ok=True)
        return
    meta, _ = parsed
    meta.mountpath = mp
    clock.observe(meta.version)
    tomb = tombs.get(meta.bucket, meta.name)
    if tomb is not None and tomb >= meta.version:
        f.unlink(missing_ok=True)
        return
    old = index.get(meta.bucket, meta.name)
    if old is not None:
        # duplicate (interrupted resilver): keep the newer one, or the one on its proper mountpath
        keep_new = (meta.version, mp == placement.proper(meta.bucket, meta.name)) > (
            old.version,
            old.mountpath == placement.proper(old.bucket, old.name),
        )
        loser = old if keep_new else meta
        path_of(loser.mountpath, loser.bucket, loser.name).unlink(missing_ok=True)
        if not keep_new:
            return
        index.remove(old)
    index.add(meta)
