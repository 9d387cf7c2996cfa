"""Shared pieces of the route modules: the node accessor, JSON errors, auth, object responses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from storage_node import auth, fileio
from storage_node.node import Node
from storage_node.store import ObjMeta

SMALL_GET = 1 << 20
_CHUNK = 4 << 20


def node_of(request: Request) -> Node:
    """The node serving this app."""
    return cast(Node, request.app.state.node)


def error(status: int, err: str, detail: str = "") -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse({"error": err, "detail": detail}, status_code=status)


def require_token(request: Request) -> None:
    """FastAPI dependency: a valid bearer token when the node has a secret (AuthError otherwise)."""
    auth.verify_header(node_of(request).cfg.auth_secret, request.headers.get("authorization"))


def object_headers(meta: ObjMeta) -> dict[str, str]:
    """Headers describing an object."""
    return {
        "content-length": str(meta.size),
        "x-ferry-checksum": meta.cksum,
        "x-ferry-checksum-type": fileio.CHECKSUM_TYPE,
        "x-ferry-version": str(meta.version),
        "etag": f'"{meta.cksum}"',
    }


def _chunks(fd: int, offset: int, size: int) -> Iterator[bytes]:
    try:
        done = 0
        while done < size:
            chunk = os.pread(fd, min(_CHUNK, size - done), offset + done)
            if not chunk:
                return
            done += len(chunk)
            yield chunk
    finally:
        os.close(fd)


def serve_object(node: Node, meta: ObjMeta, *, head: bool = False) -> Response | None:
    """The bytes of a local object (None if its file vanished meanwhile)."""
    headers = object_headers(meta)
    if head:
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    if meta.size <= SMALL_GET:
        data = node.store.read_all(meta)
        if data is None:
            return None
        return Response(content=data, headers=headers, media_type="application/octet-stream")
    opened = node.store.open(meta)
    if opened is None:
        return None
    fd, offset = opened
    return StreamingResponse(_chunks(fd, offset, meta.size), headers=headers, media_type="application/octet-stream")
