"""What the other holders of this node's copies hold: asked in batches, for the rebalance of K copies (I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from storage_node.maps import Placement
from storage_node.rebalance import copying, hosts
from storage_node.wire import HOLDINGS_BATCH

_CONCURRENCY = 8  # questions in flight at once


async def holdings(
    host: hosts.Host, objects: Iterable[copying.Copy], placement: Placement
) -> tuple[dict[str, dict[tuple[str, str], copying.Held]], set[str]]:
    """Each other holder's answer for the copies here, and the holders that could not say."""
    asks = copying.holders_to_ask(objects, placement, host.id)
    answers: dict[str, dict[tuple[str, str], copying.Held]] = {h: {} for h in asks}
    unknown: set[str] = set()
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(holder: str, bucket: str, names: list[str]) -> None:
        if holder in unknown:
            return
        async with gate:
            got = await host.peers.holdings(placement.map.nodes[holder], bucket, names)
        if got is None:
            unknown.add(holder)
            return
        for name, (version, cksum, tomb) in zip(names, got, strict=True):
            answers[holder][(bucket, name)] = copying.Held(version, cksum, tomb)

    async with asyncio.TaskGroup() as tg:
        for holder, by_bucket in asks.items():
            for bucket, names in by_bucket.items():
                for i in range(0, len(names), HOLDINGS_BATCH):
                    tg.create_task(one(holder, bucket, names[i : i + HOLDINGS_BATCH]))
    return answers, unknown
