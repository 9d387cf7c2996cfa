"""Admin API: map, status, rebalance, settings, cleanup.

A bearer token is required when the node has a secret; `guard.Guard` checks it before the body is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from storage_node.routes.common import error, node_of
from storage_node.schemas import CleanupRequest, CleanupResult, ClusterMap, SettingsUpdate

router = APIRouter(prefix="/v1/admin")  # the token is checked by `guard.Guard`, before the body is read


@router.put("/map")
async def install_map(request: Request, cmap: ClusterMap) -> Response:
    """Install a map: 200 (installed or identical no-op), 409 if older or same version but different."""
    installed = await node_of(request).install_map(cmap)
    return JSONResponse({"installed": installed, "version": cmap.version})


@router.get("/map")
async def get_map(request: Request) -> Response:
    """The installed map (404 if none yet)."""
    cmap = node_of(request).map
    if cmap is None:
        return error(404, "no map", "no cluster map installed yet")
    return JSONResponse(cmap.model_dump(mode="json"))


@router.get("/status")
async def status(request: Request) -> Response:
    """NodeStatus."""
    return JSONResponse(node_of(request).node_status().model_dump(mode="json"))


MAX_WAIT_S = 60.0


@router.get("/rebalance")
async def rebalance_status(
    request: Request,
    settled: Annotated[str | None, Query(pattern=r"^g[1-9][0-9]{0,17}$")] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0.0,
) -> Response:
    """RebalanceStatus of this node; with `settled=g<N>` and `wait`, answered once g<N> is over here (long poll).

    "Over" means done, failed or aborted on this node, or superseded by a newer rebalance; after `wait` seconds
    the answer comes anyway (the caller compares the id and stage).
    """
    rebalancer = node_of(request).rebalancer
    if settled is not None and wait > 0:
        return JSONResponse((await rebalancer.wait_settled(settled, wait)).model_dump(mode="json"))
    return JSONResponse(rebalancer.status.model_dump(mode="json"))


@router.post("/rebalance/abort")
async def abort_rebalance(request: Request) -> Response:
    """Abort the running rebalance (a newer rebalance id starts a new one); its RebalanceStatus."""
    return JSONResponse(node_of(request).rebalancer.abort().model_dump(mode="json"))


@router.put("/settings")
async def update_settings(request: Request, update: SettingsUpdate) -> Response:
    """Change throttle/durability settings; the effective Settings."""
    return JSONResponse(node_of(request).update_settings(update).model_dump(mode="json"))


@router.get("/settings")
async def get_settings(request: Request) -> Response:
    """The effective Settings."""
    return JSONResponse(node_of(request).settings.model_dump(mode="json"))


@router.post("/cleanup")
async def cleanup(request: Request, body: CleanupRequest) -> Response:
    """Decommission cleanup: metadata always, all objects too with rm_user_data."""
    removed = node_of(request).cleanup(body.rm_user_data)
    return JSONResponse(CleanupResult(removed_metadata=True, removed_objects=removed).model_dump(mode="json"))
