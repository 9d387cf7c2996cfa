"""Typed clients of a node's data and admin APIs: `NodeClient` (async) and `SyncNodeClient` (tests, benches).

Both share the request building and response parsing in `_Api`; each method is one call through it.
Errors raise `NodeError` carrying the HTTP status and the node's JSON error.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx

from storage_node import auth, wire
from storage_node.schemas import (
    BucketList,
    CleanupResult,
    ClusterMap,
    NodeStatus,
    ObjectInfo,
    RebalanceStatus,
    Settings,
    SettingsUpdate,
)

T = TypeVar("T")


class NodeError(Exception):
    """A node answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        """Carry the status code and the node's JSON error."""
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as returned by GET: bytes, checksum, version."""

    data: bytes
    checksum: str
    version: int


@dataclass(frozen=True, slots=True)
class ObjectHead:
    """An object's attributes as returned by HEAD or PUT."""

    size: int
    checksum: str
    version: int


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One request and how to parse its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    ok: tuple[int, ...] = (200,)


def _check(resp: httpx.Response, ok: tuple[int, ...]) -> None:
    if resp.status_code in ok:
        return
    try:
        body = resp.json()
        error, detail = str(body.get("error", "")), str(body.get("detail", ""))
    except ValueError:
        error, detail = resp.reason_phrase, resp.text[:200]
    raise NodeError(resp.status_code, error, detail)


def _obj(bucket: str, name: str) -> str:
    return f"/v1/objects/{bucket}/{quote(name, safe='/')}"


def _head(resp: httpx.Response) -> ObjectHead:
    h = resp.headers
    size = int(resp.json()["size"]) if resp.request.method == "PUT" else int(h["content-length"])
    return ObjectHead(size, h[wire.CHECKSUM], int(h[wire.VERSION]))


class _Api:
    """Request builders shared by both clients (pure)."""

    @staticmethod
    def install_map(cmap: ClusterMap) -> _Call[bool]:
        return _Call("PUT", "/v1/admin/map", lambda r: bool(r.json()["installed"]), json=cmap.model_dump(mode="json"))

    @staticmethod
    def get_map() -> _Call[ClusterMap | None]:
        return _Call(
            "GET",
            "/v1/admin/map",
            lambda r: ClusterMap.model_validate(r.json()) if r.status_code == 200 else None,
            ok=(200, 404),
        )

    @staticmethod
    def status() -> _Call[NodeStatus]:
        return _Call("GET", "/v1/admin/status", lambda r: NodeStatus.model_validate(r.json()))

    @staticmethod
    def rebalance_status(settled: str | None = None, wait: float = 0.0) -> _Call[RebalanceStatus]:
        params = {"settled": settled, "wait": str(wait)} if settled is not None and wait > 0 else {}
        return _Call("GET", "/v1/admin/rebalance", lambda r: RebalanceStatus.model_validate(r.json()), params=params)

    @staticmethod
    def abort_rebalance() -> _Call[RebalanceStatus]:
        return _Call("POST", "/v1/admin/rebalance/abort", lambda r: RebalanceStatus.model_validate(r.json()))

    @staticmethod
    def update_settings(update: SettingsUpdate) -> _Call[Settings]:
        return _Call(
            "PUT",
            "/v1/admin/settings",
            lambda r: Settings.model_validate(r.json()),
            json=update.model_dump(mode="json", exclude_none=True),
        )

    @staticmethod
    def cleanup(rm_user_data: bool) -> _Call[CleanupResult]:
        return _Call(
            "POST",
            "/v1/admin/cleanup",
            lambda r: CleanupResult.model_validate(r.json()),
            json={"rm_user_data": rm_user_data},
        )

    @staticmethod
    def ready() -> _Call[bool]:
        return _Call("GET", "/health/ready", lambda r: r.status_code == 200, ok=(200, 503))

    @staticmethod
    def put_object(bucket: str, name: str, data: bytes) -> _Call[ObjectHead]:
        return _Call("PUT", _obj(bucket, name), _head, content=data)

    @staticmethod
    def get_object(bucket: str, name: str) -> _Call[StoredObject]:
        return _Call(
            "GET",
            _obj(bucket, name),
            lambda r: StoredObject(r.content, r.headers[wire.CHECKSUM], int(r.headers[wire.VERSION])),
        )

    @staticmethod
    def head_object(bucket: str, name: str) -> _Call[ObjectHead | None]:
        return _Call("HEAD", _obj(bucket, name), lambda r: _head(r) if r.status_code == 200 else None, ok=(200, 404))

    @staticmethod
    def delete_object(bucket: str, name: str) -> _Call[None]:
        return _Call("DELETE", _obj(bucket, name), lambda r: None)

    @staticmethod
    def list_bucket(bucket: str, prefix: str, token: str | None, limit: int) -> _Call[BucketList]:
        params = {"prefix": prefix, "limit": str(limit)}
        if token:
            params["token"] = token
        return _Call("GET", f"/v1/buckets/{bucket}", lambda r: BucketList.model_validate(r.json()), params=params)

    @staticmethod
    def create_bucket(bucket: str) -> _Call[bool]:
        return _Call("PUT", f"/v1/buckets/{bucket}", lambda r: bool(r.json()["created"]))

    @staticmethod
    def delete_bucket(bucket: str) -> _Call[None]:
        return _Call("DELETE", f"/v1/buckets/{bucket}", lambda r: None)


def _auth_headers(token: str | None, secret: str | None) -> dict[str, str]:
    if token is None and secret is not None:
        token = auth.issue_token(secret)
    return {} if token is None else {"Authorization": f"Bearer {token}"}


KEEP_ALIVE_S = 60.0  # idle connections are kept this long (the node keeps them 75 s), e.g. between operator passes


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client of the process (building one reads the CA bundle: ~0.1 s each)."""
    return ssl.create_default_context()


class NodeClient:
    """Async client of one node (follows redirects, so any node serves any object)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        secret: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Talk to `base_url`, authenticating with `token` or a token issued from `secret`."""
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_auth_headers(token, secret),
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
            verify=_tls(),
            limits=httpx.Limits(keepalive_expiry=KEEP_ALIVE_S),
        )

    async def __aenter__(self) -> Self:
        """Use as an async context manager."""
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        """Close the connection pool."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _run(self, call: _Call[T]) -> T:
        try:
            resp = await self._http.request(
                call.method, call.path, params=call.params, json=call.json, content=call.content
            )
        except httpx.HTTPError as exc:
            raise NodeError(0, "unreachable", f"{type(exc).__name__}: {exc}") from exc
        _check(resp, call.ok)
        return call.parse(resp)

    async def install_map(self, cmap: ClusterMap) -> bool:
        """Install a map; True if installed, False if identical to the current one; NodeError 409 if older."""
        return await self._run(_Api.install_map(cmap))

    async def get_map(self) -> ClusterMap | None:
        """The node's map, None if it has none."""
        return await self._run(_Api.get_map())

    async def status(self) -> NodeStatus:
        """NodeStatus: mountpaths, objects, bytes, map version, rebalance, and `capacity` (None from older nodes)."""
        return await self._run(_Api.status())

    async def rebalance_status(self, settled: str | None = None, wait: float = 0.0) -> RebalanceStatus:
        """RebalanceStatus; with `settled` and `wait`, held by the node until that rebalance is over there (long poll).

        The request must be allowed to take `wait` seconds (the client's timeout must be longer).
        """
        return await self._run(_Api.rebalance_status(settled, wait))

    async def abort_rebalance(self) -> RebalanceStatus:
        """Abort the running rebalance."""
        return await self._run(_Api.abort_rebalance())

    async def update_settings(self, update: SettingsUpdate) -> Settings:
        """Change settings; the effective ones."""
        return await self._run(_Api.update_settings(update))

    async def cleanup(self, rm_user_data: bool = False) -> CleanupResult:
        """Decommission cleanup."""
        return await self._run(_Api.cleanup(rm_user_data))

    async def ready(self) -> bool:
        """Readiness (False if not ready; NodeError 0 if unreachable)."""
        return await self._run(_Api.ready())

    async def put_object(self, bucket: str, name: str, data: bytes) -> ObjectHead:
        """Store an object."""
        return await self._run(_Api.put_object(bucket, name, data))

    async def get_object(self, bucket: str, name: str) -> StoredObject:
        """Read an object (NodeError 404 if absent)."""
        return await self._run(_Api.get_object(bucket, name))

    async def head_object(self, bucket: str, name: str) -> ObjectHead | None:
        """An object's attributes, None if absent."""
        return await self._run(_Api.head_object(bucket, name))

    async def delete_object(self, bucket: str, name: str) -> None:
        """Delete an object (NodeError 404 if absent)."""
        await self._run(_Api.delete_object(bucket, name))

    async def list_bucket(
        self, bucket: str, prefix: str = "", token: str | None = None, limit: int = 1000
    ) -> BucketList:
        """One page of a cluster-wide listing."""
        return await self._run(_Api.list_bucket(bucket, prefix, token, limit))

    async def list_all(self, bucket: str, prefix: str = "", limit: int = 1000) -> list[ObjectInfo]:
        """Every object of a bucket (all pages)."""
        out: list[ObjectInfo] = []
        token: str | None = None
        while True:
            page = await self.list_bucket(bucket, prefix, token, limit)
            out.extend(page.objects)
            if page.next_token is None:
                return out
            token = page.next_token

    async def create_bucket(self, bucket: str) -> bool:
        """Create a bucket cluster-wide; False if it existed."""
        return await self._run(_Api.create_bucket(bucket))

    async def delete_bucket(self, bucket: str) -> None:
        """Destroy a bucket cluster-wide."""
        await self._run(_Api.delete_bucket(bucket))


class SyncNodeClient:
    """Blocking counterpart of `NodeClient` (same requests, same parsing)."""

    def __init__(
        self, base_url: str, *, token: str | None = None, secret: str | None = None, timeout: float = 30.0
    ) -> None:
        """Talk to `base_url`."""
        self._http = httpx.Client(
            base_url=base_url,
            headers=_auth_headers(token, secret),
            timeout=timeout,
            follow_redirects=True,
            verify=_tls(),
        )

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        """Close the connection pool."""
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _run(self, call: _Call[T]) -> T:
        try:
            resp = self._http.request(call.method, call.path, params=call.params, json=call.json, content=call.content)
        except httpx.HTTPError as exc:
            raise NodeError(0, "unreachable", f"{type(exc).__name__}: {exc}") from exc
        _check(resp, call.ok)
        return call.parse(resp)

    def install_map(self, cmap: ClusterMap) -> bool:
        """See `NodeClient.install_map`."""
        return self._run(_Api.install_map(cmap))

    def get_map(self) -> ClusterMap | None:
        """See `NodeClient.get_map`."""
        return self._run(_Api.get_map())

    def status(self) -> NodeStatus:
        """See `NodeClient.status`."""
        return self._run(_Api.status())

    def rebalance_status(self, settled: str | None = None, wait: float = 0.0) -> RebalanceStatus:
        """See `NodeClient.rebalance_status`."""
        return self._run(_Api.rebalance_status(settled, wait))

    def abort_rebalance(self) -> RebalanceStatus:
        """See `NodeClient.abort_rebalance`."""
        return self._run(_Api.abort_rebalance())

    def update_settings(self, update: SettingsUpdate) -> Settings:
        """See `NodeClient.update_settings`."""
        return self._run(_Api.update_settings(update))

    def cleanup(self, rm_user_data: bool = False) -> CleanupResult:
        """See `NodeClient.cleanup`."""
        return self._run(_Api.cleanup(rm_user_data))

    def ready(self) -> bool:
        """See `NodeClient.ready`."""
        return self._run(_Api.ready())

    def put_object(self, bucket: str, name: str, data: bytes) -> ObjectHead:
        """See `NodeClient.put_object`."""
        return self._run(_Api.put_object(bucket, name, data))

    def get_object(self, bucket: str, name: str) -> StoredObject:
        """See `NodeClient.get_object`."""
        return self._run(_Api.get_object(bucket, name))

    def head_object(self, bucket: str, name: str) -> ObjectHead | None:
        """See `NodeClient.head_object`."""
        return self._run(_Api.head_object(bucket, name))

    def delete_object(self, bucket: str, name: str) -> None:
        """See `NodeClient.delete_object`."""
        self._run(_Api.delete_object(bucket, name))

    def list_bucket(self, bucket: str, prefix: str = "", token: str | None = None, limit: int = 1000) -> BucketList:
        """See `NodeClient.list_bucket`."""
        return self._run(_Api.list_bucket(bucket, prefix, token, limit))

    def list_all(self, bucket: str, prefix: str = "", limit: int = 1000) -> list[ObjectInfo]:
        """See `NodeClient.list_all`."""
        out: list[ObjectInfo] = []
        token: str | None = None
        while True:
            page = self.list_bucket(bucket, prefix, token, limit)
            out.extend(page.objects)
            if page.next_token is None:
                return out
            token = page.next_token

    def create_bucket(self, bucket: str) -> bool:
        """See `NodeClient.create_bucket`."""
        return self._run(_Api.create_bucket(bucket))

    def delete_bucket(self, bucket: str) -> None:
        """See `NodeClient.delete_bucket`."""
        self._run(_Api.delete_bucket(bucket))
