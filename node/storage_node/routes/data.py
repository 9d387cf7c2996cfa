"""Data API: buckets, open to every client (the object routes are `storage_node.objects_asgi`, no framework)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from storage_node import datapath, names
from storage_node.routes.common import answer, error, node_of
from storage_node.schemas import BucketList

router = APIRouter()


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
