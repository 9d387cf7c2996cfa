"""Intra-cluster API (token-protected): local-only object access, listings, buckets, rebalance bundles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from storage_node import buckets, datapath, names, strict, wire
from storage_node.node import Node
from storage_node.routes.common import answer, error, node_of
from storage_node.schemas import SettlingBody
from storage_node.store import found_live


class Misdirected(Exception):
    """An intra-cluster request meant for another node (its pod's old address is this node's now)."""


def _addressed(request: Request) -> None:
    """Refuse a request meant for another node before anything is done (`wire.TO`; absent: an older asker)."""
    meant = request.headers.get(wire.TO)
    if meant is not None and meant != node_of(request).id:
        raise Misdirected(meant)


# the token is checked by `guard.Guard`, before the body is read
router = APIRouter(prefix="/v1/internal", dependencies=[Depends(_addressed)])


def _stamped(node: Node, resp: Response) -> Response:
    """Every intra-cluster answer names its sender and its map version (an asker with an older map catches up)."""
    resp.headers[wire.MAP_VERSION] = str(node.map.version if node.map is not None else 0)
    resp.headers[wire.NODE] = node.id
    return resp


async def _local(request: Request, bucket: str, name: str, head: bool) -> Response:
    names.check_bucket(bucket)
    names.check_object(name)
    node = node_of(request)
    meta = node.store.get(bucket, name)
    moved = node.store.handed_over(bucket, name)
    if meta is not None and (copy := await datapath.open_local(node, meta, head=head)) is not None:
        resp = answer(copy)
        if moved is not None:
            resp.headers[wire.HANDED_OVER] = str(moved)
        return _stamped(node, resp)
    tomb = node.store.tombstone(bucket, name)
    resp = error(404, "not here", f"{bucket}/{name}")
    if tomb is not None:
        resp.headers[wire.TOMBSTONE] = str(tomb)
    if moved is not None:
        resp.headers[wire.HANDED_OVER] = str(moved)
    if node.refilling:
        resp.headers[wire.REFILLING] = "1"
    return _stamped(node, resp)


@router.get("/objects/{bucket}/{name:path}")
async def get_local(request: Request, bucket: str, name: str) -> Response:
    """This node's own copy, no redirect, no neighbor lookup."""
    return await _local(request, bucket, name, head=False)


@router.head("/objects/{bucket}/{name:path}")
async def head_local(request: Request, bucket: str, name: str) -> Response:
    """Whether this node holds a copy (200) or a tombstone (404 with X-Ferry-Tombstone)."""
    return await _local(request, bucket, name, head=True)


@router.delete("/objects/{bucket}/{name:path}")
async def delete_local(
    request: Request, bucket: str, name: str, version: Annotated[int, Query(ge=1, le=strict.MAX_VERSION)]
) -> Response:
    """Apply a cluster-wide delete of the given version here (tombstone)."""
    names.check_bucket(bucket)
    names.check_object(name)
    node = node_of(request)
    done = node.store.delete(bucket, name, version)
    body = wire.DeleteAnswer(existed=found_live([done]), held=done.removed, tomb=done.tomb, refilling=node.refilling)
    return _stamped(node, JSONResponse(body.model_dump(mode="json")))


@router.get("/list/{bucket}")
async def list_local(
    request: Request,
    bucket: str,
    prefix: Annotated[str, Query(max_length=names.MAX_OBJECT_NAME_BYTES)] = "",
    after: Annotated[str, Query(max_length=names.MAX_OBJECT_NAME_BYTES)] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """This node's entries (objects and tombstones) of a bucket, and its moved-out counter."""
    names.check_bucket(bucket)
    node = node_of(request)
    moved = node.store.moved_out
    page = {"entries": node.list_local(bucket, prefix, after, limit), "moved_out": moved, "refilling": node.refilling}
    return _stamped(node, JSONResponse(page))


@router.post("/holdings")
async def holdings(request: Request, body: wire.HoldingsAsk) -> Response:
    """Version, checksum and tombstone of this node's copy of each object asked about (0, "", 0: nothing)."""
    node = node_of(request)
    copies = []
    for name in body.objects:
        meta, tomb = node.store.get(body.bucket, name), node.store.tombstone(body.bucket, name) or 0
        copies.append((meta.version, meta.cksum, tomb) if meta is not None else (0, "", tomb))
    answer = wire.Holdings(copies=copies)
    return _stamped(node, JSONResponse(answer.model_dump(mode="json")))


@router.get("/counters")
async def counters(request: Request) -> Response:
    """The moved-out counter (listings compare it to detect objects moving meanwhile)."""
    node = node_of(request)
    return _stamped(node, JSONResponse({"moved_out": node.store.moved_out}))


@router.get("/settling")
async def get_settling(request: Request) -> Response:
    """What this node knows of finished rebalances: node id -> highest finished rebalance number."""
    return JSONResponse({"done": node_of(request).settling.known()})


@router.post("/settling")
async def post_settling(request: Request, body: SettlingBody) -> Response:
    """Learn what a peer knows of finished rebalances; answer what this node knows."""
    node = node_of(request)
    node.learn_settling(body.done)
    return JSONResponse({"done": node.settling.known()})


@router.get("/buckets")
async def get_buckets(request: Request) -> Response:
    """This node's bucket registry."""
    return JSONResponse(buckets.encode(node_of(request).buckets.records()))


@router.put("/buckets")
async def put_buckets(request: Request, records: buckets.Wire) -> Response:
    """Merge bucket records from a peer (every name and version checked: 422 naming what is not valid)."""
    node = node_of(request)
    node.apply_bucket_records(buckets.from_wire(records))
    return JSONResponse({"ok": True})


@router.get("/rebalance/endpoint")
async def bundle_endpoint(request: Request) -> Response:
    """The port of this node's raw bundle listener on its HTTP host (null: none; use /rebalance/recv)."""
    return JSONResponse({"port": node_of(request).bundle_port})


@router.post("/rebalance/recv")
async def receive_bundle(request: Request) -> Response:
    """Receive a bundle of migrating objects over HTTP (no raw listener): the same session, a verdict per object."""
    node = node_of(request)
    query = request.query_params
    hello = {
        "token": request.headers.get("authorization", "")[7:].strip(),
        "to": node.id,
        "from": query.get("from"),
        "reb": query.get("reb", ""),
        "mv": strict.count(query.get("mv")),
    }
    answer = await node.receiver.tunnel(hello, request.stream())
    if not isinstance(answer, dict) or "verdicts" not in answer:
        detail = answer.get("error") if isinstance(answer, dict) else None
        return error(400, "bundle refused", str(detail or answer))
    return JSONResponse(answer)
