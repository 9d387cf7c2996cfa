"""What the rebalancer needs of the node that hosts it: a small `Protocol`, so it never imports the node.

`storage_node.node.Node` is the one implementation; a test double needs only these members.
"""

from __future__ import annotations

from typing import Protocol

from storage_node.buckets import BucketRecord
from storage_node.maps import Placement
from storage_node.schemas import ClusterMap, NodeEntry, RebalanceStatus, Settings
from storage_node.store import ObjMeta, Tmp, Verdict


class Objects(Protocol):
    """The object store, as far as moving copies in and out goes."""

    def snapshot(self) -> list[ObjMeta]:
        """Every local object."""

    def get(self, bucket: str, name: str) -> ObjMeta | None:
        """The local object, if any."""

    def open_exact(self, meta: ObjMeta) -> tuple[int, int] | None:
        """(fd, data offset) of the object's file if it still holds `meta`'s version."""

    def remove_moved(self, bucket: str, name: str, version: int) -> bool:
        """Remove the local copy a peer now holds (exactly that version), remembering the hand-over."""

    def begin_migrating(self, bucket: str, name: str, size: int, version: int, cksum: str) -> Tmp:
        """A temp file for an arriving copy."""

    def verdict(self, bucket: str, name: str, version: int) -> Verdict:
        """Whether a copy of this version may be installed (`newer`: something as new or newer is here)."""

    def commit_migrating(self, tmp: Tmp, version: int, cksum: str) -> Verdict:
        """Install an arrived copy unless it is corrupt or something newer is here."""

    def delete(self, bucket: str, name: str, version: int | None = None) -> object:
        """Apply a delete of `version` here (a tombstone; a copy older than it goes)."""


class Buckets(Protocol):
    """The bucket registry."""

    def get(self, name: str) -> BucketRecord | None:
        """The bucket's record, if known."""

    def exists(self, name: str) -> bool:
        """Whether the bucket exists."""

    def accepts(self, name: str, object_version: int) -> bool:
        """Whether a copy of this version belongs to the bucket's current incarnation."""


class Peers(Protocol):
    """The client of the other nodes."""

    def headers(self) -> dict[str, str]:
        """The intra-cluster authorization headers."""

    async def bundle_port(self, url: str) -> int | None:
        """The port of a peer's raw bundle listener (None: use HTTP)."""

    async def holdings(self, node: NodeEntry, bucket: str, names: list[str]) -> list[tuple[int, str, int]] | None:
        """Version, checksum and tombstone of each of `names` on `node` (0, "", 0: nothing); None if it cannot say."""


class Markers(Protocol):
    """Where the rebalance marker is persisted."""

    def load_marker(self) -> RebalanceStatus | None:
        """The persisted marker, if any."""

    def save_marker(self, status: RebalanceStatus) -> None:
        """Persist the marker."""


class Host(Protocol):
    """The node, as the rebalancer sees it."""

    @property
    def id(self) -> str:
        """This node's id."""

    @property
    def map(self) -> ClusterMap | None:
        """The installed cluster map."""

    @property
    def placement(self) -> Placement | None:
        """Placement by the installed map."""

    @property
    def settings(self) -> Settings:
        """Current settings (concurrency and bandwidth of the rebalance)."""

    @property
    def store(self) -> Objects:
        """The object store."""

    @property
    def buckets(self) -> Buckets:
        """The bucket registry."""

    @property
    def peers(self) -> Peers:
        """The other nodes."""

    @property
    def state(self) -> Markers:
        """The state directory (the marker)."""

    def is_down(self, node_id: str) -> bool:
        """Whether another node did not answer its last liveness probe (K copies; never with one)."""

    def apply_bucket_records(self, records: dict[str, BucketRecord]) -> None:
        """Merge bucket records (a copy of a bucket created elsewhere arrived first)."""

    async def adopt_newer_map(self, from_id: str | None, version: int) -> None:
        """Fetch a newer map from the node that routes by it."""
