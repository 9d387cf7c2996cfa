"""Intra-cluster calls to other nodes (/v1/internal/..., admin map): one shared httpx.AsyncClient."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from storage_node import auth, buckets, strict, wire
from storage_node.schemas import ClusterMap, NodeEntry, SettlingBody
from storage_node.store import Deletion

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


QUICK_S = 1.0  # how long a node found down is given to answer a delete (it is not waited for)


class PeerError(Exception):
    """A peer answered with an unexpected status or could not be reached."""


@dataclass(frozen=True, slots=True)
class Presence:
    """What a peer holds for an object name: an object or a tombstone, with its version."""

    node: NodeEntry
    version: int
    deleted: bool
    size: int = 0
    cksum: str = ""


@dataclass(frozen=True, slots=True)
class Sighting:
    """A peer's answer about one object name: what it holds (if anything) and what it handed on."""

    found: Presence | None
    handed_over: int | None  # version of a copy it gave to another node, not deleted since
    unsure: bool = False  # a "not here" from a node refilling after an empty start: it proves nothing


def object_path(prefix: str, bucket: str, name: str) -> str:
    """URL path of an object under `prefix` (name percent-encoded, '/' kept)."""
    return f"{prefix}/{bucket}/{quote(name, safe='/')}"


class Peers:
    """Client side of the intra-cluster API."""

    def __init__(self, tokens: auth.TokenCache) -> None:
        """Create the shared client."""
        self._tokens = tokens
        self.newest_map: tuple[int, str] = (0, "")  # the newest map version a peer answered with, and that peer
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def close(self) -> None:
        """Close the shared client."""
        await self.http.aclose()

    def _note(self, node: NodeEntry, r: httpx.Response) -> None:
        who = r.headers.get(wire.NODE)
        if who is not None and who != node.id:
            # the address the asker's map gives is another node's now (a pod came back elsewhere, another took
            # its address): that node's answer says nothing of `node`
            raise PeerError(f"{node.id}: {node.url} answered as {who}")
        version = strict.count(r.headers.get(wire.MAP_VERSION))
        if version is not None and version > self.newest_map[0]:
            self.newest_map = (version, node.id)

    def headers(self, to: NodeEntry | None = None) -> dict[str, str]:
        """Auth headers for intra-cluster calls (and the node meant, `to`: another node at its address refuses)."""
        headers = self._tokens.headers()
        return headers if to is None else {**headers, wire.TO: to.id}

    async def presence(self, node: NodeEntry, bucket: str, name: str, *, quick: bool = False) -> Sighting:
        """What `node` holds of the object (copy or tombstone) and hands on; PeerError if it cannot say (quick: 1 s)."""
        try:
            r = await self.http.head(
                node.url + object_path("/v1/internal/objects", bucket, name),
                headers=self.headers(node),
                timeout=QUICK_S if quick else 10.0,
            )
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed (this node stopping)
            raise PeerError(f"{node.id}: {type(exc).__name__}: {exc}") from exc
        self._note(node, r)
        h = r.headers
        handed_over = strict.count(h.get(wire.HANDED_OVER))
        if r.status_code == 200:
            version, size = strict.count(h.get(wire.VERSION)), strict.count(h.get("content-length"))
            cksum = h.get(wire.CHECKSUM)
            if version is None or size is None or cksum is None:
                raise PeerError(f"{node.id}: presence answer without its headers")
            return Sighting(Presence(node, version, False, size, cksum), handed_over)
        if r.status_code != 404:
            raise PeerError(f"{node.id}: presence answered {r.status_code}")
        raw = h.get(wire.TOMBSTONE)
        tomb = strict.count(raw)
        if raw is not None and tomb is None:
            raise PeerError(f"{node.id}: presence answered a tombstone of {raw!r}")
        unsure = h.get(wire.REFILLING) is not None
        return Sighting(None if tomb is None else Presence(node, tomb, True), handed_over, unsure)

    async def open_object(self, node: NodeEntry, bucket: str, name: str) -> httpx.Response | None:
        """A streaming response with a peer's local copy (caller closes it), or None if it lacks one."""
        req = self.http.build_request(
            "GET", node.url + object_path("/v1/internal/objects", bucket, name), headers=self.headers(node)
        )
        try:
            r = await self.http.send(req, stream=True)
        except (httpx.HTTPError, RuntimeError):
            return None
        if r.status_code != 200 or r.headers.get(wire.NODE, node.id) != node.id:
            await r.aclose()  # (another node at that address: its copy may be another version)
            return None
        return r

    async def _json(self, node: NodeEntry, what: str, method: str, url: str, model: type[M], **kw: Any) -> M:
        """A peer's answer to one intra-cluster request, parsed into `model`; PeerError if it cannot give one.

        It cannot when it is unreachable, this node's client is closing, another node answers at that address,
        or the status or body is not what was asked for.
        """
        try:
            r = await self.http.request(method, url, headers=self.headers(node), **kw)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client closed (this node stopping)
            raise PeerError(f"{node.id}: {type(exc).__name__}: {exc}") from exc
        self._note(node, r)
        if r.status_code != 200:
            raise PeerError(f"{node.id}: {what} answered {r.status_code}")
        try:
            return model.model_validate_json(r.content)
        except ValidationError as exc:
            raise PeerError(f"{node.id}: {what} answered {exc.error_count()} errors: {exc.errors()[0]['msg']}") from exc

    async def delete(self, node: NodeEntry, bucket: str, name: str, version: int, *, quick: bool = False) -> Deletion:
        """Apply a delete (tombstone) on a peer; what it held before; PeerError if it cannot say (within 1 s: quick)."""
        url = node.url + object_path("/v1/internal/objects", bucket, name)
        params = {"version": str(version)}
        kw: dict[str, Any] = {"timeout": QUICK_S} if quick else {}
        done = await self._json(node, "delete", "DELETE", url, wire.DeleteAnswer, params=params, **kw)
        if "held" not in done.model_fields_set:  # a node of an older release (a rolling upgrade): whether it held one
            return Deletion(version if done.existed else None, None)
        return Deletion(done.held, done.tomb, unsure=done.refilling and done.held is None)

    async def holdings(self, node: NodeEntry, bucket: str, names: list[str]) -> list[tuple[int, str, int]] | None:
        """Version, checksum and tombstone of each of `names` on `node` (0, "", 0: nothing); None if it cannot say."""
        url = f"{node.url}/v1/internal/holdings"
        ask = wire.HoldingsAsk(bucket=bucket, objects=names).model_dump(mode="json")
        try:
            got = await self._json(node, "holdings", "POST", url, wire.Holdings, json=ask)
        except PeerError as exc:
            log.info("holdings of %s: %s", node.id, exc)
            return None
        if len(got.copies) != len(names):
            log.warning("holdings of %s: %d answers to %d names", node.id, len(got.copies), len(names))
            return None
        return [(v, c, t) for v, c, t in got.copies]

    async def list_local(
        self, node: NodeEntry, bucket: str, prefix: str, after: str, limit: int
    ) -> tuple[list[list[object]], int, bool]:
        """A peer's local entries (objects and tombstones), its moved-out counter and whether it refills."""
        params = {"prefix": prefix, "after": after, "limit": str(limit)}
        url = f"{node.url}/v1/internal/list/{bucket}"
        page = await self._json(node, "list", "GET", url, wire.ListPage, params=params)
        return [list(e) for e in page.entries], page.moved_out, page.refilling

    async def moved_out(self, node: NodeEntry) -> int:
        """A peer's moved-out counter."""
        return (await self._json(node, "counters", "GET", f"{node.url}/v1/internal/counters", wire.Counters)).moved_out

    async def get_buckets(self, node: NodeEntry) -> dict[str, buckets.BucketRecord] | None:
        """A peer's bucket registry (None if unreachable)."""
        try:
            r = await self.http.get(f"{node.url}/v1/internal/buckets", headers=self.headers(), timeout=5.0)
        except (httpx.HTTPError, RuntimeError):
            return None
        if r.status_code != 200:
            return None
        try:
            return buckets.decode_or_none(r.json())
        except ValueError:  # not JSON
            return None

    async def push_buckets(self, node: NodeEntry, records: dict[str, buckets.BucketRecord]) -> bool:
        """Merge records into a peer's registry."""
        try:
            r = await self.http.put(
                f"{node.url}/v1/internal/buckets", json=buckets.encode(records), headers=self.headers()
            )
        except (httpx.HTTPError, RuntimeError):
            return False
        return r.status_code == 200

    async def bundle_port(self, url: str) -> int | None:
        """The port of a peer's raw bundle listener (None: it has none, or it did not say)."""
        try:
            r = await self.http.get(f"{url}/v1/internal/rebalance/endpoint", headers=self.headers(), timeout=5.0)
        except (httpx.HTTPError, RuntimeError):
            return None
        if r.status_code != 200:
            return None
        try:
            return wire.BundleEndpoint.model_validate_json(r.content).port
        except ValidationError:  # not JSON, not an endpoint
            return None

    async def settling(self, node: NodeEntry, done: dict[str, int] | None = None) -> dict[str, int] | None:
        """Exchange what each knows of finished rebalances (tell it `done` if given); None if unreachable."""
        url = f"{node.url}/v1/internal/settling"
        try:
            if done is None:
                r = await self.http.get(url, headers=self.headers(), timeout=5.0)
            else:
                r = await self.http.post(url, json={"done": done}, headers=self.headers(), timeout=5.0)
        except (httpx.HTTPError, RuntimeError):
            return None
        if r.status_code != 200:
            return None
        try:
            return SettlingBody.model_validate_json(r.content).done
        except ValidationError:
            return None

    async def put_map(self, node: NodeEntry, cmap: ClusterMap) -> bool:
        """Pass a map on to a peer (it installs it if newer); False if it did not take it."""
        try:
            r = await self.http.put(
                f"{node.url}/v1/admin/map", json=cmap.model_dump(mode="json"), headers=self.headers(), timeout=5.0
            )
        except (httpx.HTTPError, RuntimeError):
            return False
        return r.status_code in (200, 409)

    async def get_map(self, node: NodeEntry) -> ClusterMap | None:
        """A peer's installed map (None if unreachable or none)."""
        try:
            r = await self.http.get(f"{node.url}/v1/admin/map", headers=self.headers(), timeout=5.0)
        except (httpx.HTTPError, RuntimeError):
            return None
        if r.status_code != 200:
            return None
        try:
            return ClusterMap.model_validate_json(r.content)
        except ValidationError as exc:  # not a map (another server at a reused address, a broken peer)
            log.warning("%s answered something that is not a map: %s", node.id, exc)
            return None
