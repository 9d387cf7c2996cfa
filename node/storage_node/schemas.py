"""Wire schemas of the storage node's HTTP API (pydantic v2); the operator imports these."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage_node import strict

_REBALANCE_ID = re.compile(r"^g([0-9]{1,18})$")


class NodeFlag(StrEnum):
    """State flags of a node in the cluster map; a node with any flag gets no placement."""

    maintenance = "maintenance"
    decommission = "decommission"
    lost = "lost"  # unavailable longer than the loss grace (K copies): its copies are re-created on the others


class RebalanceStage(StrEnum):
    """Forward-only stages of one node's part of a global rebalance."""

    idle = "idle"
    init = "init"
    traverse = "traverse"
    fin = "fin"
    done = "done"
    aborted = "aborted"
    error = "error"


#: Stages in which a node's part of a rebalance is over (it will not move anything more for that id).
SETTLED_STAGES = frozenset({RebalanceStage.done, RebalanceStage.aborted, RebalanceStage.error})


class NodeEntry(BaseModel):
    """One node of the cluster map: id, base URL and state flags."""

    model_config = ConfigDict(frozen=True)

    id: strict.NodeId
    url: str = Field(min_length=1, max_length=300, description='base URL, e.g. "http://127.1.2.3:8080"')
    flags: list[NodeFlag] = Field(default_factory=list, max_length=len(NodeFlag))
    #: When the node entered the map (Unix seconds, kept across versions; None: unknown). A node that starts on
    #: an empty volume and finds it entered before it started was a member with data: it refills (`refilling`).
    since: float | None = Field(default=None, ge=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(value)

    @property
    def eligible(self) -> bool:
        """Whether the node takes part in placement (it has no flags)."""
        return not self.flags


MAX_COPIES = 3


class ClusterMap(BaseModel):
    """Versioned, immutable cluster map: the nodes and the current rebalance id."""

    model_config = ConfigDict(frozen=True)

    version: strict.Version
    rebalance_id: str | None = None
    nodes: dict[str, NodeEntry] = Field(default_factory=dict, max_length=10_000)
    #: How many nodes hold each object: the first `copies` of its HRW ranking over the eligible nodes.
    copies: int = Field(default=1, ge=1, le=MAX_COPIES)

    @field_validator("rebalance_id")
    @classmethod
    def _check_rebalance_id(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rebalance_id(value)
        return value

    @field_validator("nodes")
    @classmethod
    def _check_keys(cls, value: dict[str, NodeEntry]) -> dict[str, NodeEntry]:
        for key, entry in value.items():
            if key != entry.id:
                raise ValueError(f"node key {key!r} differs from its id {entry.id!r}")
        return value


def check_base_url(value: str) -> str:
    """`value` if it is an absolute http(s) URL with a host and a port and nothing after them; ValueError if not."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # "http://[::1", a port out of range
        raise ValueError(f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError("a node URL is http(s)://HOST:PORT")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or not value.isascii():
        raise ValueError("a node URL has nothing but scheme, host and port (no path, query, user or fragment)")
    return value


def parse_rebalance_id(value: str) -> int:
    """Return N of a rebalance id "g<N>"; ValueError if malformed."""
    match = _REBALANCE_ID.match(value)
    if match is None:
        raise ValueError(f"rebalance id must look like g<N>, got {value!r}")
    return int(match.group(1))


def rebalance_number(value: str | None) -> int:
    """Return N of "g<N>", 0 for None: rebalance ids compare numerically by this."""
    return 0 if value is None else parse_rebalance_id(value)


def rebalance_settled(status: RebalanceStatus, rid: str) -> bool:
    """Whether rebalance `rid` is over on the node reporting `status`: done, failed, aborted, or superseded."""
    wanted, current = rebalance_number(rid), rebalance_number(status.id)
    return current > wanted or (current == wanted and status.stage in SETTLED_STAGES)


def rebalance_id(number: int) -> str:
    """Format the rebalance id "g<N>"."""
    return f"g{number}"


class RebalanceStatus(BaseModel):
    """Progress of this node's part of a global rebalance."""

    id: str | None = None
    map_version: int = 0
    stage: RebalanceStage = RebalanceStage.idle
    objects_to_send: int = 0
    bytes_to_send: int = 0
    objects_sent: int = 0
    bytes_sent: int = 0
    objects_received: int = 0
    bytes_received: int = 0
    errors: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class MountpathCapacity(BaseModel):
    """Space of the filesystem holding one mountpath, in bytes (``os.statvfs``, as ``df`` shows it).

    capacity = f_blocks, used = f_blocks - f_bfree, free = f_bavail (what the node may still write); used + free
    may fall short of capacity by the blocks the filesystem reserves for root.
    """

    path: str
    capacity_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class NodeCapacity(BaseModel):
    """A node's space in bytes: totals count each filesystem once (mountpaths may share one), and per mountpath."""

    capacity_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)
    mountpaths: list[MountpathCapacity] = Field(default_factory=list)


class NodeStatus(BaseModel):
    """A node's own view: its mountpaths, what it stores, its space, its map and its rebalance.

    `capacity` is None from nodes older than the field (and unknown fields are ignored), so old and new
    clients and nodes read each other's bodies.
    """

    id: str
    mountpaths: list[str]
    objects: int
    bytes: int
    map_version: int | None
    rebalance: RebalanceStatus
    capacity: NodeCapacity | None = None
    #: Refilling after an empty start (wiped or replaced volume): filled once the cluster settles on a
    #: rebalance numbered higher than this (the operator starts one). None: not refilling.
    refill_after: int | None = None


class Settings(BaseModel):
    """Runtime-changeable settings: rebalance throttle and durability."""

    rebalance_concurrency: int = Field(default=4, ge=1, le=64)
    rebalance_bandwidth: int = Field(
        default=0, ge=0, le=strict.MAX_VERSION, description="bytes/s sent by rebalance, 0 = unlimited"
    )
    fsync: bool = False
    peer_wait_seconds: float = Field(
        default=20.0,
        ge=0,
        le=300,
        description="how long a request waits for a node that may hold its object and does not answer, then 503",
    )


class SettingsUpdate(BaseModel):
    """Body of PUT /v1/admin/settings: only the given fields change."""

    rebalance_concurrency: int | None = Field(default=None, ge=1, le=64)
    rebalance_bandwidth: int | None = Field(default=None, ge=0, le=strict.MAX_VERSION)
    fsync: bool | None = None
    peer_wait_seconds: float | None = Field(default=None, ge=0, le=300)


class CleanupRequest(BaseModel):
    """Body of POST /v1/admin/cleanup."""

    rm_user_data: bool = False


class CleanupResult(BaseModel):
    """What a cleanup removed."""

    removed_metadata: bool
    removed_objects: int


class ObjectInfo(BaseModel):
    """One entry of a bucket listing."""

    name: str
    size: int
    checksum: str
    version: int


class BucketList(BaseModel):
    """One page of a cluster-wide bucket listing; next_token is None on the last page."""

    bucket: str
    objects: list[ObjectInfo]
    next_token: str | None = None


class SettlingBody(BaseModel):
    """What a node knows of finished rebalances: node id -> highest finished rebalance number."""

    done: dict[strict.NodeId, strict.Count] = Field(max_length=10_000)
