"""The operator's client of the storage nodes over HTTP (``protocols.Fleet``): admin calls, a token from the key."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from storage_node import auth
from storage_node.client import NodeClient, NodeError
from storage_node.schemas import ClusterMap, NodeStatus, RebalanceStatus, SettingsUpdate

T = TypeVar("T")
STATUS_TIMEOUT = 3.0
CALL_TIMEOUT = 30.0
TOKEN_TTL_S = 600
log = logging.getLogger(__name__)


class HttpFleet:
    """``protocols.Fleet`` over HTTP: admin calls to one cluster's nodes, a client per node (keep-alive).

    A fleet is kept across passes until its token is half-way to expiry or the cluster's key changes.
    """

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.born = time.monotonic()
        self._token = None if key is None else auth.issue_token(key, subject="ferry-operator", ttl_s=TOKEN_TTL_S)
        self._clients: dict[str, NodeClient] = {}

    def fresh_for(self, key: str | None) -> bool:
        """Whether this fleet may still be used with `key` (same key, token far from expiry)."""
        return key == self.key and time.monotonic() - self.born < TOKEN_TTL_S / 2

    def _client(self, url: str) -> NodeClient:
        if url not in self._clients:
            self._clients[url] = NodeClient(url, token=self._token, timeout=CALL_TIMEOUT)
        return self._clients[url]

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(c.aclose() for c in self._clients.values()))
        self._clients.clear()

    async def _each(
        self, urls: Mapping[str, str], call: Callable[[NodeClient], Awaitable[T]], timeout: float
    ) -> dict[str, T | Exception]:
        async def one(url: str) -> T | Exception:
            try:
                return await asyncio.wait_for(call(self._client(url)), timeout)
            except (NodeError, TimeoutError) as err:
                return err

        names = list(urls)
        results = await asyncio.gather(*(one(urls[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def statuses(self, urls: Mapping[str, str]) -> dict[str, NodeStatus]:
        """The status of every node that answers (the others are left out)."""
        results = await self._each(urls, lambda c: c.status(), STATUS_TIMEOUT)
        out: dict[str, NodeStatus] = {}
        for node, res in results.items():
            if isinstance(res, Exception):
                log.debug("node %s did not answer: %s", node, res)
            else:
                out[node] = res
        return out

    async def install_map(self, urls: Mapping[str, str], smap: ClusterMap) -> dict[str, str]:
        """Install `smap` on the nodes; returns the failures by node (a node with a newer map counts as done)."""
        results = await self._each(urls, lambda c: c.install_map(smap), CALL_TIMEOUT)
        return {n: str(r) for n, r in results.items() if isinstance(r, Exception)}

    async def update_settings(self, urls: Mapping[str, str], update: SettingsUpdate) -> dict[str, str]:
        """Change the throttle on the nodes; returns the failures by node."""
        results = await self._each(urls, lambda c: c.update_settings(update), CALL_TIMEOUT)
        return {n: str(r) for n, r in results.items() if isinstance(r, Exception)}

    async def settled(self, url: str, rid: str, *, wait: float) -> RebalanceStatus:
        """The node's rebalance status, held by the node until `rid` is over there or `wait` s passed (long poll)."""
        return await asyncio.wait_for(self._client(url).rebalance_status(settled=rid, wait=wait), wait + CALL_TIMEOUT)

    async def cleanup(self, url: str, *, rm_user_data: bool) -> None:
        """Decommission cleanup of one node (metadata, and user data when asked); raises NodeError."""
        await asyncio.wait_for(self._client(url).cleanup(rm_user_data=rm_user_data), CALL_TIMEOUT)
