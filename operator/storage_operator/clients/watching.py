"""Completion notices: a long poll per node while a global rebalance runs; an answer wakes the cluster's loop.

Without them the loop would notice the end of a rebalance only at its next timed pass. Each node holds the
request until its part of the rebalance is over (``GET /v1/admin/rebalance?settled=g<N>&wait=...``), so the
pass that finishes the transition starts milliseconds after the last node is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from storage_node.client import NodeError
from storage_node.schemas import rebalance_settled

from storage_operator.clients.protocols import Asker

LONG_POLL_S = 20.0  # a node holds the request this long at most; then it is asked again
RETRY_S = 1.0  # after a failed request (node restarting): the reconcile pass notices the node itself

log = logging.getLogger(__name__)


class SettleWatch:
    """Long polls for one cluster: one per (node, rebalance id); a node that answered is not asked again."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._polls: dict[tuple[str, str, str], asyncio.Task[None]] = {}  # (node, url, rebalance id) -> poll

    def follow(self, fleet: Asker, rid: str, urls: Mapping[str, str]) -> None:
        """Poll the nodes `urls` about rebalance `rid`; stop every other poll."""
        wanted = {(n, u, rid) for n, u in urls.items()}
        for key in [k for k in self._polls if k not in wanted]:
            self._polls.pop(key).cancel()
        for node, url, r in wanted - self._polls.keys():
            self._polls[(node, url, r)] = asyncio.create_task(self._poll(fleet, node, url, r), name=f"settle-{node}")

    def stop(self) -> None:
        """Cancel every poll (no rebalance runs, or the fleet's connections are replaced)."""
        for task in self._polls.values():
            task.cancel()
        self._polls.clear()

    async def _poll(self, fleet: Asker, node: str, url: str, rid: str) -> None:
        while True:
            try:
                status = await fleet.settled(url, rid, wait=LONG_POLL_S)
            except (NodeError, TimeoutError) as err:
                log.debug("long poll of %s about %s failed: %s", node, rid, err)
                await asyncio.sleep(RETRY_S)
                continue
            if rebalance_settled(status, rid):
                log.debug("%s: rebalance %s is over there (%s)", node, rid, status.stage)
                self._wake()
                return
