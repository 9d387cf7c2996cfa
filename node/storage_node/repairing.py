"""Repairing a local copy found corrupt: counted, logged, and fetched again, verified, from a node with a good one.

The store has already taken the copy out of service (`Store.read_checked`, `Store.open_checked`), so reads
meanwhile are answered by the other holders, as for a copy this node lacks. The repair asks the other nodes
what they hold (`Node.look_up`), streams the newest live copy from one of them into a migrating copy and
installs it as the rebalance receiver does (`Store.commit_migrating`), which refuses it unless its data match
the checksum its sender gave. A holder that is down or silent is asked again a while later (up to about ten
minutes); with no other node holding a good copy (one copy, K = 1) there is nothing to repair from.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from storage_node import metrics, strict, wire
from storage_node.node import Node
from storage_node.schemas import NodeEntry
from storage_node.store import NoSpace, ObjMeta, Verdict

log = logging.getLogger(__name__)

_PAUSES_S = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 60.0, 120.0, 120.0, 180.0)  # before each attempt


def found_corrupt(node: Node, meta: ObjMeta) -> None:
    """A copy of this node failed its checksum (the store quarantined it): count, log, repair it in the background."""
    metrics.CORRUPT_COPIES.inc()
    log.error(
        "%s/%s v%d on %s does not match its checksum: quarantined, not served; repairing it from another node",
        meta.bucket,
        meta.name,
        meta.version,
        meta.mountpath,
    )
    node.spawn(repair(node, meta.bucket, meta.name, meta.version))


async def repair(node: Node, bucket: str, name: str, version: int) -> bool:
    """Fetch a good copy (this version or newer) from another node and install it here; whether one is here now."""
    for pause in _PAUSES_S:
        await asyncio.sleep(pause)
        if not _should_hold(node, bucket, name):
            log.info("%s/%s: this node no longer holds a copy of it: not repaired", bucket, name)
            return False
        here = node.store.get(bucket, name)
        if here is not None and here.version >= version:
            return True  # a write, the rebalance or another repair put a copy here meanwhile
        tomb = node.store.tombstone(bucket, name)
        if tomb is not None and tomb >= version:
            return False  # deleted since: nothing to repair
        found = await node.look_up(bucket, name)
        best = found.best
        if best is not None and best.deleted and best.version >= version:
            return False
        if best is not None and not best.deleted and best.version >= version:
            if await _fetch(node, best.node, bucket, name):
                return True
            continue
        if not found.unknown and not _holder_down(node, bucket, name):
            log.error("%s/%s v%d: no other node holds a good copy: it cannot be repaired", bucket, name, version)
            return False
    log.error("%s/%s v%d: still not repaired; the next rebalance may bring a copy", bucket, name, version)
    return False


async def _fetch(node: Node, source: NodeEntry, bucket: str, name: str) -> bool:
    """Stream `source`'s copy into this node's store, verified; whether it was installed (or something newer)."""
    upstream = await node.peers.open_object(source, bucket, name)
    if upstream is None:
        return False
    try:
        h = upstream.headers
        size, version, cksum = (
            strict.count(h.get("content-length")),
            strict.count(h.get(wire.VERSION)),
            h.get(wire.CHECKSUM),
        )
        if size is None or version is None or cksum is None:
            log.warning("%s/%s: %s answered its copy without its headers", bucket, name, source.id)
            return False
        if node.store.verdict(bucket, name, version) is not Verdict.ok:
            return True  # something as new or newer is here already
        tmp = node.store.begin_migrating(bucket, name, size, version, cksum)
        try:
            async for chunk in upstream.aiter_raw():
                tmp.write(chunk)
        except BaseException:
            tmp.abort()
            raise
    except (httpx.HTTPError, OSError, NoSpace) as exc:  # the stream broke off, or this node's disk failed
        log.warning("%s/%s: repairing from %s failed: %s", bucket, name, source.id, exc)
        return False
    finally:
        await upstream.aclose()
    verdict = node.store.commit_migrating(tmp, version, cksum)  # refused unless the data match the checksum
    if verdict is Verdict.ok:
        metrics.REPAIRED_COPIES.inc()
        log.warning("%s/%s v%d repaired from the copy of %s", bucket, name, version, source.id)
    else:
        log.warning("%s/%s: the copy from %s was not installed: %s", bucket, name, source.id, verdict)
    return verdict in (Verdict.ok, Verdict.newer)


def _should_hold(node: Node, bucket: str, name: str) -> bool:
    """Whether this node is one of the object's holders by its map (no map: it holds what it has)."""
    placement = node.placement
    if placement is None or placement.empty:
        return True
    return any(h.id == node.id for h in placement.holders(bucket, name))


def _holder_down(node: Node, bucket: str, name: str) -> bool:
    """Whether another holder of the object is down (it may have a good copy once it is back)."""
    placement = node.placement
    if placement is None or placement.empty:
        return False
    return any(h.id != node.id and node.is_down(h.id) for h in placement.holders(bucket, name))
