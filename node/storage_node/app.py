"""A node's ASGI app: the object routes (`objects_asgi`) before FastAPI's routers, errors, metrics and lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage_node import guard, maps, metrics, names, objects_asgi, wire
from storage_node.asking import Unavailable
from storage_node.config import Config
from storage_node.node import Node
from storage_node.routes import admin, data, health, internal
from storage_node.store import NoSpace, out_of_space

log = logging.getLogger(__name__)
_UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404 or 405 of the router)


def _route_label(scope: Scope) -> str:
    """The template of the route that served the request (never the raw path: bounded label values)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else _UNMATCHED


class _Watched:
    """A `send` that remembers the status of the response it started (None until one starts)."""

    def __init__(self, send: Send) -> None:
        """Wrap an ASGI send."""
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        """Pass the message on, noting a response's start."""
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self.send(message)


class InternalErrors:
    """A request that fails inside the node gets a JSON 500 naming the error's kind, on a connection kept open.

    The traceback goes to the log. (Left to the server, the error would also close the connection after the
    answer, and a client reusing it could read a reset instead of the 500.) An error after the answer started
    cannot be answered any more: the connection is cut, as before. A request cancelled before its answer (the
    server stopping, its grace over) gets 503 with Retry-After instead of the server's bare 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap an ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve; answer 500 for an error before the response started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sending = _Watched(send)
        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            # the server is stopping and its grace ran out while this request still waited (for a node that
            # does not answer, say): the client hears "retry", as from any node that cannot tell yet, not 500
            if sending.status is not None:
                raise
            body = {"error": "unavailable", "detail": "this node is stopping; retry"}
            headers = {"Retry-After": "1", "Connection": "close"}
            await JSONResponse(body, status_code=503, headers=headers)(scope, receive, send)
        except Exception as exc:
            if sending.status is not None:
                raise
            log.exception("%s %s failed", scope["method"], scope.get("path", ""))
            body = {"error": "internal", "detail": f"{type(exc).__name__}: {exc}"[:300]}
            await JSONResponse(body, status_code=500)(scope, receive, send)


class MetricsMiddleware:
    """Counts and times requests by method, route template and status code (the body's end ends the time)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap an ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve, count and time."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sending = _Watched(send)
        try:
            await self.app(scope, receive, sending)
        finally:
            method, route = scope["method"], _route_label(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(sending.status or 500)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


def create_app(cfg: Config) -> objects_asgi.Objects:
    """Build the app for one node: the object routes without the framework, in front of the FastAPI app of the rest."""
    node = Node(cfg)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    # no schema and no docs pages: the API is documented in the package docstring and docs/, and an open
    # schema would list the admin and intra-cluster routes to anyone
    app = FastAPI(title="Ferry storage node", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.node = node
    for router in (data.router, admin.router, internal.router, health.router):
        app.include_router(router)

    @app.exception_handler(names.InvalidName)
    async def _bad_name(_: Request, exc: names.InvalidName) -> JSONResponse:
        return JSONResponse({"error": "invalid name", "detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and fails (a 500) on a body that is not UTF-8
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "detail": detail}, status_code=422)

    @app.exception_handler(guard.BodyRefused)
    async def _refused(_: Request, exc: guard.BodyRefused) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(maps.MapConflict)
    async def _conflict(_: Request, exc: maps.MapConflict) -> JSONResponse:
        return JSONResponse({"error": "map conflict", "detail": str(exc)}, status_code=409)

    @app.exception_handler(internal.Misdirected)
    async def _misdirected(_: Request, exc: internal.Misdirected) -> JSONResponse:
        detail = f"this is {node.id}, not {exc}: its address is another node's now"
        return JSONResponse({"error": "misdirected", "detail": detail}, status_code=421, headers={wire.NODE: node.id})

    @app.exception_handler(NoSpace)
    async def _no_space(_: Request, exc: NoSpace) -> JSONResponse:
        return JSONResponse({"error": "insufficient storage", "detail": str(exc)}, status_code=507)

    @app.exception_handler(OSError)
    async def _full(_: Request, exc: OSError) -> JSONResponse:
        if not out_of_space(exc):  # any other I/O error stays a 500 (and is logged)
            raise exc
        return JSONResponse({"error": "insufficient storage", "detail": str(exc)}, status_code=507)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    app.add_middleware(InternalErrors)
    app.add_middleware(guard.Guard, secret=cfg.auth_secret, limits=cfg.limits)
    app.add_middleware(MetricsMiddleware)
    return objects_asgi.Objects(node, app, cfg.limits)
