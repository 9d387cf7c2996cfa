"""Data API: objects and buckets, open to every client, served by the proper node or redirected to it."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from storage_node import forwarding, names
from storage_node.node import Node, Unavailable
from storage_node.peers import Presence, object_path
from storage_node.routes.common import error, node_of, object_headers, serve_object
from storage_node.schemas import BucketList
from storage_node.store import NoSpace, Tmp

router = APIRouter()

_MAP_WAIT_S = 5.0  # a request shows a newer map exists: how long to wait for it before answering 503
_LOOKUPS = 6  # get-from-neighbor rounds at least while an object is seen only in flight (then until the hold ends)


async def _prologue(request: Request, bucket: str, name: str) -> tuple[Node, Response | None]:
    """Validate, adopt a newer map the request reveals, check the bucket, redirect to the owner."""
    names.check_bucket(bucket)
    names.check_object(name)
    node = node_of(request)
    q = request.query_params
    secret = node.cfg.auth_secret
    fwd = forwarding.parse(q.multi_items(), secret=secret, bucket=bucket, name=name)
    if fwd.map_version is not None:
        await node.adopt_newer_map(fwd.sender, fwd.map_version)
        if not await node.wait_for_map(fwd.map_version, _MAP_WAIT_S):
            # routed here by a newer map this node does not hold yet (a new member before its first map)
            raise Unavailable(f"map v{fwd.map_version} has not reached this node yet")
    if not await node.ensure_bucket(bucket):
        if node.map is None:
            raise Unavailable("this node has no cluster map yet: it cannot tell which buckets exist")
        return node, error(404, "no such bucket", bucket)
    route = node.route(bucket, name, fwd.hops)
    if route.target is None:
        return node, None
    params = [(k, v) for k, v in q.multi_items() if k not in forwarding.PARAMS]
    onward = forwarding.Forwarded(node.map.version if node.map else None, node.id, fwd.hops + 1)
    params += forwarding.encode(onward, secret=secret, bucket=bucket, name=name)
    url = route.target.url + object_path("/v1/objects", bucket, name) + "?" + urlencode(params)
    return node, RedirectResponse(url, status_code=307)


@router.put("/v1/objects/{bucket}/{name:path}")
async def put_object(request: Request, bucket: str, name: str) -> Response:
    """Store an object (body = bytes); answers its size, checksum and version (507 if its mountpath is full)."""
    node, early = await _prologue(request, bucket, name)
    if early is not None:
        return early
    tmp: Tmp | None = None
    full: NoSpace | None = None
    try:
        tmp = node.store.begin(bucket, name)
    except NoSpace as exc:
        full = exc
    try:
        async for chunk in request.stream():
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
        # read to its end, so the client hears why instead of a reset; the previous version stays
        return error(507, "insufficient storage", str(full))
    if not node.buckets.exists(bucket):
        tmp.abort()
        return error(404, "no such bucket", bucket)
    await node.spread_map()
    try:
        meta = node.store.commit_client(tmp, request.headers.get("x-ferry-checksum"))
    except ValueError as exc:
        return error(400, "bad checksum", str(exc))
    await node.rebalancer.place(meta)  # the map changed while the body came in: the owner gets it now
    body = {
        "bucket": bucket,
        "name": name,
        "size": meta.size,
        "checksum": meta.cksum,
        "version": meta.version,
    }
    headers = object_headers(meta)
    del headers["content-length"]
    return JSONResponse(body, headers=headers)


async def _read(request: Request, bucket: str, name: str, head: bool) -> Response:
    node, early = await _prologue(request, bucket, name)
    if early is not None:
        return early
    meta = node.store.get(bucket, name)
    if meta is not None and node.settled and (resp := serve_object(node, meta, head=head)) is not None:
        return resp  # settled: every object is on its proper node, this copy is the only one
    # a rebalance may still be moving it, or a node routing by another map may hold a newer write:
    # the newest of what this node and the others hold wins (get-from-neighbor); a node that may hold it
    # and does not answer (its pod restarting) is waited for, a while, rather than answered 503 at once
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
            if (resp := serve_object(node, meta, head=head)) is not None:
                return resp
            continue  # its file went meanwhile (handed over): look again
        if remote is not None and not remote.deleted and remote.version > local:
            resp = await _from_neighbor(node, remote, bucket, name, head)
            if resp is not None:
                return resp
            continue  # it left that node meanwhile: look again
        deleted_at = max(local, remote.version if remote is not None else 0)
        moved = max(found.handed_over or 0, node.store.handed_over(bucket, name) or 0)
        if moved <= deleted_at:
            if found.unknown and (deleted_at == 0 or not node.settled):
                if await node.wait_for_peers(until, asked):
                    tries -= 1
                    continue
                raise Unavailable(f"{', '.join(found.unknown)} could not say whether it holds {bucket}/{name}")
            return error(404, "no such object", f"{bucket}/{name}")
        # a copy newer than any tombstone was handed from one node to another and neither showed it when
        # asked (not yet committed there, already removed here): it is in flight, look again (as long as a
        # silent node is waited for: a loaded receiver may take a while to commit it)
        await asyncio.sleep(min(0.02 * tries, 0.5))
    raise Unavailable(f"{bucket}/{name} is moving between nodes; retry")


async def _from_neighbor(node: Node, found: Presence, bucket: str, name: str, head: bool) -> Response | None:
    """Serve another node's copy (None if it is no longer there)."""
    if head:
        return Response(
            status_code=200,
            headers={
                "content-length": str(found.size),
                "x-ferry-checksum": found.cksum,
                "x-ferry-version": str(found.version),
                "etag": f'"{found.cksum}"',
            },
        )
    upstream = await node.peers.open_object(found.node, bucket, name)
    if upstream is None:
        return None
    keep = ("content-length", "x-ferry-checksum", "x-ferry-checksum-type", "x-ferry-version", "etag")
    return StreamingResponse(
        upstream.aiter_raw(),
        headers={k: upstream.headers[k] for k in keep if k in upstream.headers},
        media_type="application/octet-stream",
        background=BackgroundTask(upstream.aclose),
    )


@router.get("/v1/objects/{bucket}/{name:path}")
async def get_object(request: Request, bucket: str, name: str) -> Response:
    """The object's bytes, with its checksum in X-Ferry-Checksum."""
    return await _read(request, bucket, name, head=False)


@router.head("/v1/objects/{bucket}/{name:path}")
async def head_object(request: Request, bucket: str, name: str) -> Response:
    """The object's size, checksum and version, no body."""
    return await _read(request, bucket, name, head=True)


@router.delete("/v1/objects/{bucket}/{name:path}")
async def delete_object(request: Request, bucket: str, name: str) -> Response:
    """Delete an object everywhere (tombstones keep it from coming back); 404 if no node had it."""
    node, early = await _prologue(request, bucket, name)
    if early is not None:
        return early
    await node.spread_map()
    if not await node.delete_everywhere(bucket, name):
        return error(404, "no such object", f"{bucket}/{name}")
    return JSONResponse({"bucket": bucket, "name": name, "deleted": True})


@router.get("/v1/buckets/{bucket}")
async def list_bucket(
    request: Request,
    bucket: str,
    prefix: Annotated[str, Query(max_length=names.MAX_OBJECT_NAME_BYTES)] = "",
    token: Annotated[str, Query(max_length=names.MAX_OBJECT_NAME_BYTES)] = "",
    limit: int = 1000,
) -> Response:
    """One page of the bucket's objects across the whole cluster; pass next_token as token for the next."""
    names.check_bucket(bucket)
    if not 1 <= limit <= 10000:
        return error(400, "bad limit", "limit must be 1..10000")
    node = node_of(request)
    if not await node.ensure_bucket(bucket):
        if node.map is None:
            raise Unavailable("this node has no cluster map: it cannot tell which buckets exist")
        return error(404, "no such bucket", bucket)
    objects, next_token = await node.list_cluster(bucket, prefix, token, limit)
    return JSONResponse(BucketList(bucket=bucket, objects=objects, next_token=next_token).model_dump(mode="json"))


@router.put("/v1/buckets/{bucket}")
async def create_bucket(request: Request, bucket: str) -> Response:
    """Create a bucket cluster-wide (idempotent)."""
    names.check_bucket(bucket)
    created = await node_of(request).create_bucket(bucket)
    return JSONResponse({"bucket": bucket, "created": created})


@router.delete("/v1/buckets/{bucket}")
async def destroy_bucket(request: Request, bucket: str) -> Response:
    """Destroy a bucket and all its objects cluster-wide."""
    names.check_bucket(bucket)
    if not await node_of(request).destroy_bucket(bucket):
        return error(404, "no such bucket", bucket)
    return JSONResponse({"bucket": bucket, "destroyed": True})
