"""The bucket registry across nodes: pull it, push changes, create and destroy buckets (a part of `Node`).

Every node keeps the whole registry (`buckets.Buckets`); a change is pushed to every other node at once, and
one that missed it gets the whole registry with the next map. A request for a bucket this node does not know
pulls the peers' registries first (a node may have just joined), one pull shared by the requests waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from storage_node.buckets import BucketRecord, Buckets

if TYPE_CHECKING:
    from storage_node.peers import Peers
    from storage_node.schemas import NodeEntry
    from storage_node.store import Store


class BucketSync:
    """`Node`'s bucket operations; the node provides the attributes and `others` declared here."""

    if TYPE_CHECKING:
        store: Store
        buckets: Buckets
        peers: Peers
        _missed_buckets: set[str]
        _syncing: tuple[float, asyncio.Future[None]] | None

        def others(self) -> list[NodeEntry]: ...

    def apply_bucket_records(self, records: dict[str, BucketRecord]) -> None:
        """Merge bucket records; drop local objects that belong to destroyed or older incarnations."""
        for name in self.buckets.merge(records):
            rec = self.buckets.get(name)
            if rec is None:
                continue
            if not rec.exists:
                self.store.drop_bucket(name)
                continue
            for meta in list(self.store.objects_of(name).values()):
                if meta.version < rec.version:
                    self.store.remove_moved(meta.bucket, meta.name, meta.version)

    async def sync_buckets(self) -> None:
        """Pull the bucket registries of all peers and merge them."""
        results = await asyncio.gather(*(self.peers.get_buckets(n) for n in self.others()))
        for records in results:
            if records:
                self.apply_bucket_records(records)

    async def ensure_bucket(self, bucket: str) -> bool:
        """Whether the bucket exists, asking peers before saying no (a node may have just joined)."""
        if self.buckets.exists(bucket):
            return True
        if self.buckets.get(bucket) is None:
            await self._fresh_sync()
        return self.buckets.exists(bucket)

    async def _fresh_sync(self) -> None:
        """A pull of the peers' registries that started after this call, shared by the callers that wait for one.

        Requests for unknown buckets (anyone can send them) thus cost the peers one pull at a time, not one each.
        """
        asked = time.monotonic()
        while True:
            running = self._syncing
            if running is None or running[1].done():
                pull: asyncio.Future[None] = asyncio.ensure_future(self.sync_buckets())
                self._syncing = (time.monotonic(), pull)
                await asyncio.shield(pull)
                return
            await asyncio.shield(running[1])
            if running[0] >= asked:
                return

    async def create_bucket(self, bucket: str) -> bool:
        """Create a bucket cluster-wide; False if it existed."""
        await self.ensure_bucket(bucket)
        rec, created = self.buckets.create(bucket)
        await self._push_buckets({bucket: rec}, self.others())
        return created

    async def destroy_bucket(self, bucket: str) -> bool:
        """Destroy a bucket and its objects cluster-wide; False if it did not exist."""
        if not await self.ensure_bucket(bucket):
            return False
        rec = self.buckets.destroy(bucket)
        if rec is None:
            return False
        self.store.drop_bucket(bucket)
        await self._push_buckets({bucket: rec}, self.others())
        return True

    async def _push_buckets(self, records: dict[str, BucketRecord], to: list[NodeEntry]) -> None:
        """Push bucket records to peers; one that misses them gets the whole registry with the next map."""
        done = await asyncio.gather(*(self.peers.push_buckets(n, records) for n in to))
        for node, ok in zip(to, done, strict=True):
            if ok:
                self._missed_buckets.discard(node.id)
            else:
                self._missed_buckets.add(node.id)
