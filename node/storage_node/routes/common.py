"""Shared pieces of the route modules: the node accessor, JSON errors, and the data path's answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from storage_node import datapath, fileio, wire
from storage_node.node import Node
from storage_node.store import ObjMeta

_CHUNK = 4 << 20
_NEIGHBOUR_HEADERS = ("content-length", wire.CHECKSUM, wire.CHECKSUM_TYPE, wire.VERSION, "etag")
_OCTETS = "application/octet-stream"


def node_of(request: Request) -> Node:
    """The node serving this app."""
    return cast(Node, request.app.state.node)


def error(status: int, err: str, detail: str = "") -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse({"error": err, "detail": detail}, status_code=status)


def object_headers(meta: ObjMeta) -> dict[str, str]:
    """Headers describing an object."""
    return {
        "content-length": str(meta.size),
        wire.CHECKSUM: meta.cksum,
        wire.CHECKSUM_TYPE: fileio.CHECKSUM_TYPE,
        wire.VERSION: str(meta.version),
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


def answer(decision: datapath.Redirect | datapath.Missing | datapath.Corrupt | datapath.Copy) -> Response:
    """The HTTP answer of a data-path decision (the table in `datapath`)."""
    if isinstance(decision, datapath.Redirect):
        return RedirectResponse(decision.url, status_code=307)
    if isinstance(decision, datapath.Missing):
        return error(404, decision.error, decision.detail)
    if isinstance(decision, datapath.Corrupt):
        return error(500, "corrupt copy", decision.detail)
    if isinstance(decision, datapath.NeighbourCopy):
        found, upstream = decision.found, decision.upstream
        if upstream is None:  # HEAD
            headers = {"content-length": str(found.size), wire.CHECKSUM: found.cksum}
            headers |= {wire.VERSION: str(found.version), "etag": f'"{found.cksum}"'}
            return Response(status_code=200, headers=headers)
        kept = {k: upstream.headers[k] for k in _NEIGHBOUR_HEADERS if k in upstream.headers}
        return StreamingResponse(
            upstream.aiter_raw(), headers=kept, media_type=_OCTETS, background=BackgroundTask(upstream.aclose)
        )
    headers = object_headers(decision.meta)
    if decision.fd is not None:
        body = _chunks(decision.fd, decision.offset, decision.meta.size)
        return StreamingResponse(body, headers=headers, media_type=_OCTETS)
    if decision.data is not None:
        return Response(content=decision.data, headers=headers, media_type=_OCTETS)
    return Response(status_code=200, headers=headers, media_type=_OCTETS)
