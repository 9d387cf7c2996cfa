"""Which other nodes answer right now: probed twice a second while objects have several copies (I/O).

With K copies a request for an object goes to the first of its holders that answers (`Node.route`), so a holder
that is down or frozen (SIGSTOP, a stuck disk) must be known before a client is sent to it. Every other node of
the map is asked ``GET /health/ready`` every `INTERVAL_S`; one that leaves `MISSES` probes in a row without a
Ready answer from itself (each within `TIMEOUT_S`) is down until it answers again. Not Ready counts as down: a
node whose pod is being deleted (its pre-stop step marked it leaving) serves on for a few seconds, but nobody
is sent to it any more while another holder can answer; and an answer from another node (its address is
another pod's by now) is no answer from this one. With one copy there is nowhere else to send a request:
nothing is probed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from storage_node.schemas import ClusterMap, NodeEntry

INTERVAL_S = 0.5
TIMEOUT_S = 2.0
MISSES = 2  # probes in a row without an answer before a node is down (a busy machine stalls a process for a second)


class Liveness:
    """The nodes found not answering, and since when (monotonic)."""

    def __init__(self, self_id: str, current: Callable[[], ClusterMap | None]) -> None:
        """Probe the other nodes of the map `current()` returns (each round reads it again)."""
        self._self_id = self_id
        self._current = current
        self._down: dict[str, float] = {}
        self._misses: dict[str, int] = {}

    def is_down(self, node_id: str) -> bool:
        """Whether `node_id` did not answer its last probe."""
        return node_id in self._down

    @property
    def down(self) -> list[str]:
        """The nodes down now, by id."""
        return sorted(self._down)

    async def run(self) -> None:
        """Probe until cancelled."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_S)) as http:
            while True:
                cmap = self._current()
                if cmap is None or cmap.copies == 1:
                    self._down.clear()
                    self._misses.clear()
                else:
                    others = [n for n in cmap.nodes.values() if n.id != self._self_id]
                    answered = await asyncio.gather(*(self._probe(http, n) for n in others))
                    now = time.monotonic()
                    for node, ok in zip(others, answered, strict=True):
                        if ok:
                            self._down.pop(node.id, None)
                            self._misses.pop(node.id, None)
                        else:
                            self._misses[node.id] = self._misses.get(node.id, 0) + 1
                            if self._misses[node.id] >= MISSES:
                                self._down.setdefault(node.id, now)
                    for gone in set(self._down) - {n.id for n in others}:
                        del self._down[gone]
                await asyncio.sleep(INTERVAL_S)

    async def _probe(self, http: httpx.AsyncClient, node: NodeEntry) -> bool:
        try:
            r = await http.get(f"{node.url}/health/ready")
            return r.status_code == 200 and r.json().get("id") == node.id
        except (httpx.HTTPError, ValueError, AttributeError):  # unreachable, or not a node's JSON answer
            return False
