"""How a data request is answered, from the map, the store and the peers: the data path's core, no HTTP framework.

A front end (today's FastAPI routes; a faster server or an S3 API later) parses a request, calls one function
here and translates the decision it returns:

| decision | meaning | HTTP |
|---|---|---|
| `Redirect` | the object's proper node is another | 307 to `url` |
| `Missing` | no such bucket, or no such object anywhere | 404 |
| `Corrupt` | this node's copy failed its checksum and no node holds a good one (K = 1, or every copy bad) | 500 |
| `LocalCopy` | this node's copy is the newest (opened, or for HEAD only described) | 200 |
| `NeighbourCopy` | another node's copy is newer (get-from-neighbour, opened from it) | 200 |
| `Stored` | a write is durable and where the map puts it (or on its way) | 200 |
| `Refused` | a write that cannot be taken (`status`, `error`, `detail`) | 400 / 404 / 507 |
| `Unavailable` (raised) | a node that may hold the object cannot answer yet | 503, Retry-After |

How a read is answered (`read`): on a settled cluster (every node finished the map's rebalance) a local copy
is the only one and is served at once. Otherwise a rebalance may still move it, or a node routing by another
map may hold a newer write: this node asks the others what they hold (`Node.look_up`) and the newest of
every copy and tombstone wins. A node that may hold it and does not answer (its pod restarting) is waited
for up to `peer_wait_seconds` (`Node.hold_until`), rather than answered 503 at once; an object seen only
"handed over" (sent to another node, not yet shown there) is in flight and looked for again. A local copy is
checked against its checksum before it is served (`open_local`): one that fails is taken out of service and
repaired from another node, and the read goes on as on a node without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from storage_node import forwarding, names, repairing
from storage_node.asking import Unavailable
from storage_node.node import Node
from storage_node.peers import Presence, object_path
from storage_node.store import CorruptCopy, NoSpace, ObjMeta, Tmp

SMALL_GET = 1 << 20  # a local copy up to this size is read whole; a larger one is streamed from its file
_MAP_WAIT_S = 5.0  # a request shows a newer map exists: how long to wait for it before answering 503
_LOOKUPS = 6  # get-from-neighbour rounds at least while an object is seen only in flight (then until the hold ends)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the client to the object's proper node."""

    url: str


@dataclass(frozen=True, slots=True)
class Missing:
    """No such bucket or object (`error` says which)."""

    error: str
    detail: str


@dataclass(frozen=True, slots=True)
class Corrupt:
    """This node's copy failed its checksum (taken out of service) and no node holds a good one."""

    detail: str


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """This node's copy: whole (`data`), as an open file (`fd` at `offset`, the reader closes it), or neither (HEAD)."""

    meta: ObjMeta
    data: bytes | None = None
    fd: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class NeighbourCopy:
    """Another node's newer copy; `upstream` is its open answer (the reader closes it), None for a HEAD."""

    found: Presence
    upstream: httpx.Response | None


@dataclass(frozen=True, slots=True)
class Stored:
    """A client write, durable and acknowledged."""

    meta: ObjMeta


@dataclass(frozen=True, slots=True)
class Refused:
    """A write that was not taken; nothing of it stays, the previous version is untouched."""

    status: int
    error: str
    detail: str


Copy = LocalCopy | NeighbourCopy


def no_bucket(node: Node, bucket: str) -> Missing:
    """The bucket does not exist (Unavailable when this node cannot tell: it has no map yet)."""
    if node.map is None:
        raise Unavailable("this node has no cluster map yet: it cannot tell which buckets exist")
    return Missing("no such bucket", bucket)


async def admit(node: Node, bucket: str, name: str, query: Iterable[tuple[str, str]]) -> Redirect | Missing | None:
    """Check a request for an object: adopt a newer map it reveals, check its bucket, redirect it to the owner.

    None: this node serves it. InvalidName for a bad name.
    """
    names.check_bucket(bucket)
    names.check_object(name)
    query = list(query)
    secret = node.cfg.auth_secret
    fwd = forwarding.parse(query, secret=secret, bucket=bucket, name=name)
    if fwd.map_version is not None:
        await node.adopt_newer_map(fwd.sender, fwd.map_version)
        if not await node.wait_for_map(fwd.map_version, _MAP_WAIT_S):
            # routed here by a newer map this node does not hold yet (a new member before its first map)
            raise Unavailable(f"map v{fwd.map_version} has not reached this node yet")
    if not await node.ensure_bucket(bucket):
        return no_bucket(node, bucket)
    route = node.route(bucket, name, fwd.hops)
    if route.target is None:
        return None
    params = [(k, v) for k, v in query if k not in forwarding.PARAMS]
    onward = forwarding.Forwarded(node.map.version if node.map else None, node.id, fwd.hops + 1)
    params += forwarding.encode(onward, secret=secret, bucket=bucket, name=name)
    return Redirect(route.target.url + object_path("/v1/objects", bucket, name) + "?" + urlencode(params))


async def open_local(node: Node, meta: ObjMeta, *, head: bool) -> LocalCopy | None:
    """This node's copy, checked against its checksum, ready to send (a HEAD's only described, not checked).

    None if its file went meanwhile (handed over, or replaced), or if it failed the check: then the store took
    it out of service and it is repaired in the background (`repairing`), and the caller answers as for a copy
    this node lacks. A small copy is read whole and checked; a large one is checked (off the event loop) before
    anything is sent, from the descriptor it is then sent from: a client never receives a copy's wrong bytes.
    """
    if head:
        return LocalCopy(meta)
    try:
        if meta.size <= SMALL_GET:
            data = node.store.read_checked(meta)
            return None if data is None else LocalCopy(meta, data=data)
        opened = await node.store.open_checked(meta)
    except CorruptCopy:
        repairing.found_corrupt(node, meta)
        return None
    return None if opened is None else LocalCopy(meta, fd=opened[0], offset=opened[1])


def _corrupt(node: Node, bucket: str, name: str, version: int) -> Corrupt:
    """This node's copy failed its checksum and no node that answered holds a good one: 500 (503 if one may)."""
    placement = node.placement
    holders = [] if placement is None or placement.empty else placement.holders(bucket, name)
    down = [h.id for h in holders if h.id != node.id and node.is_down(h.id)]
    if down:
        raise Unavailable(f"{bucket}/{name}: the copy here failed its checksum and {', '.join(down)} is down; retry")
    return Corrupt(f"{bucket}/{name} v{version}: the copy on {node.id} failed its checksum; no node holds a good one")


async def read(node: Node, bucket: str, name: str, *, head: bool) -> Copy | Missing | Corrupt:
    """The newest copy of an object this node can find (see the module's docstring); Unavailable if it cannot tell."""
    meta = node.store.get(bucket, name)
    # settled: every object is on its proper node; this copy is the only one, or (K copies) the primary's, which
    # every write goes through. Another holder answering for a primary that is down asks the others first, and
    # so does a primary back from being away until it caught up with them, or one leaving (the others write
    # around it from the moment its readiness fails)
    fast = (
        node.settled
        and not node.refilling
        and not (node.leaving and node.map is not None and node.map.copies > 1)
        and (node.map is None or node.map.copies == 1 or (node.is_primary(bucket, name) and not node.catching_up))
    )
    if meta is not None and fast and (copy := await open_local(node, meta, head=head)) is not None:
        return copy
    until, tries = node.hold_until(), 0
    while tries < _LOOKUPS or time.monotonic() < until:
        asked = node.map_version
        found = await node.look_up(bucket, name)
        meta = node.store.get(bucket, name)  # it may have arrived (or left) while we asked around
        tomb = node.store.tombstone(bucket, name)
        local = max((v for v in (meta.version if meta is not None else None, tomb) if v is not None), default=0)
        remote = found.best
        tries += 1
        if meta is not None and meta.version >= local and (remote is None or meta.version >= remote.version):
            if (copy := await open_local(node, meta, head=head)) is not None:
                return copy
            continue  # its file went meanwhile (handed over), or it failed its checksum: look again
        if remote is not None and not remote.deleted and remote.version > local:
            if head:
                return NeighbourCopy(remote, None)
            upstream = await node.peers.open_object(remote.node, bucket, name)
            if upstream is not None:
                return NeighbourCopy(remote, upstream)
            continue  # it left that node meanwhile: look again
        deleted_at = max(local, remote.version if remote is not None else 0)
        moved = max(found.handed_over or 0, node.store.handed_over(bucket, name) or 0)
        if moved <= deleted_at:
            if found.unknown and (deleted_at == 0 or not node.settled):
                if await node.wait_for_peers(until, asked):
                    tries -= 1
                    continue
                raise Unavailable(f"{', '.join(found.unknown)} could not say whether it holds {bucket}/{name}")
            if (bad := node.store.quarantined(bucket, name)) is not None and bad > deleted_at:
                return _corrupt(node, bucket, name, bad)
            return Missing("no such object", f"{bucket}/{name}")
        # a copy newer than any tombstone was handed from one node to another and neither showed it when
        # asked (not yet committed there, already removed here): it is in flight, look again (as long as a
        # silent node is waited for: a loaded receiver may take a while to commit it)
        await asyncio.sleep(min(0.02 * tries, 0.5))
    raise Unavailable(f"{bucket}/{name} is moving between nodes; retry")


async def write(
    node: Node, bucket: str, name: str, body: AsyncIterator[bytes], checksum: str | None
) -> Stored | Refused:
    """Store a client's object from its body; acknowledged once durable and where the current map puts it.

    The body is read to its end even when the write cannot be taken (a full mountpath), so the client hears
    why instead of a reset; a body that breaks off (or times out) leaves nothing behind.
    """
    tmp: Tmp | None = None
    full: NoSpace | None = None
    try:
        tmp = node.store.begin(bucket, name)
    except NoSpace as exc:
        full = exc
    try:
        async for chunk in body:
            if chunk and tmp is not None:
                try:
                    tmp.write(chunk)
                except NoSpace as exc:  # the temp file is gone; the rest of the body is read and dropped
                    tmp, full = None, exc
    except BaseException:
        if tmp is not None:
            tmp.abort()
        raise
    if tmp is None:
        return Refused(507, "insufficient storage", str(full))
    if not node.buckets.exists(bucket):
        tmp.abort()
        return Refused(404, "no such bucket", bucket)
    await node.spread_map()
    try:
        meta = await node.store.commit_client_async(tmp, checksum)
    except ValueError as exc:
        return Refused(400, "bad checksum", str(exc))
    await node.rebalancer.place(meta)  # the map changed while the body came in: the owner gets it now
    return Stored(meta)


async def delete(node: Node, bucket: str, name: str) -> Missing | None:
    """Delete an object everywhere (tombstones keep it from coming back); Missing if no node had it."""
    await node.spread_map()
    if not await node.delete_everywhere(bucket, name):
        return Missing("no such object", f"{bucket}/{name}")
    return None
