"""Data API: objects and buckets, open to every client; each route asks `datapath` and translates its decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from storage_node import datapath, names, wire
from storage_node.routes.common import answer, error, node_of, object_headers
from storage_node.schemas import BucketList

router = APIRouter()


@router.put("/v1/objects/{bucket}/{name:path}")
async def put_object(request: Request, bucket: str, name: str) -> Response:
    """Store an object (body = bytes); answers its size, checksum and version (507 if its mountpath is full)."""
    node = node_of(request)
    early = await datapath.admit(node, bucket, name, request.query_params.multi_items())
    if early is not None:
        return answer(early)
    done = await datapath.write(node, bucket, name, request.stream(), request.headers.get(wire.CHECKSUM))
    if isinstance(done, datapath.Refused):
        return error(done.status, done.error, done.detail)
    meta = done.meta
    body = {"bucket": bucket, "name": name, "size": meta.size, "checksum": meta.cksum, "version": meta.version}
    headers = object_headers(meta)
    del headers["content-length"]
    return JSONResponse(body, headers=headers)


async def _read(request: Request, bucket: str, name: str, head: bool) -> Response:
    node = node_of(request)
    early = await datapath.admit(node, bucket, name, request.query_params.multi_items())
    if early is not None:
        return answer(early)
    return answer(await datapath.read(node, bucket, name, head=head))


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
    node = node_of(request)
    early = await datapath.admit(node, bucket, name, request.query_params.multi_items())
    if early is None:
        early = await datapath.delete(node, bucket, name)
    if early is not None:
        return answer(early)
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
        return answer(datapath.no_bucket(node, bucket))
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
