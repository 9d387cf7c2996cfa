"""Concurrency helper: many awaitables, a bounded number in flight at once (no I/O of its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

LIMIT = 16  # API calls in flight at once (100 nodes must not take 100 round trips, nor all at once)


async def bounded(calls: Iterable[Awaitable[None]], limit: int = LIMIT) -> None:
    """Await every call, at most `limit` at once."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[None]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(c) for c in calls))
