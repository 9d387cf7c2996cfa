"""The FastAPI application of a node: routers, error mapping, request metrics, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage_node import auth, maps, metrics, names
from storage_node.config import Config
from storage_node.node import Node, Unavailable
from storage_node.routes import admin, data, health, internal


def _route_label(path: str) -> str:
    parts = path.split("/", 3)
    return "/".join(parts[:3]) if len(parts) > 2 else path


class MetricsMiddleware:
    """Counts requests by method, coarse route and status code."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap an ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve and count."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        code = 500

        async def sending(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.REQUESTS.labels(scope["method"], _route_label(scope["path"]), str(code)).inc()


def create_app(cfg: Config) -> FastAPI:
    """Build the app for one node."""
    node = Node(cfg)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = FastAPI(title="Ferry storage node", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.node = node
    for router in (data.router, admin.router, internal.router, health.router):
        app.include_router(router)

    @app.exception_handler(names.InvalidName)
    async def _bad_name(_: Request, exc: names.InvalidName) -> JSONResponse:
        return JSONResponse({"error": "invalid name", "detail": str(exc)}, status_code=400)

    @app.exception_handler(auth.AuthError)
    async def _unauthorized(_: Request, exc: auth.AuthError) -> JSONResponse:
        return JSONResponse(
            {"error": "unauthorized", "detail": str(exc)},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(maps.MapConflict)
    async def _conflict(_: Request, exc: maps.MapConflict) -> JSONResponse:
        return JSONResponse({"error": "map conflict", "detail": str(exc)}, status_code=409)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    app.add_middleware(MetricsMiddleware)
    return app
