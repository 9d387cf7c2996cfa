"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from storage_node import metrics
from storage_node.routes.common import node_of

router = APIRouter()


@router.get("/health/live")
async def live() -> Response:
    """The process serves HTTP."""
    return JSONResponse({"live": True})


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    """The store is loaded and serving (a map is not required), and the pod is not being deleted."""
    node = node_of(request)
    if not node.ready:
        return JSONResponse({"ready": False}, status_code=503)
    if node.check_leaving():  # out of the endpoints first, serving on meanwhile (`storage_node.prestop`)
        return JSONResponse({"ready": False, "leaving": True}, status_code=503)
    return JSONResponse({"ready": True, "id": node.id})


@router.get("/metrics")
async def prometheus() -> Response:
    """Prometheus exposition (the gauges are read now: `metrics.NodeCollector`)."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
