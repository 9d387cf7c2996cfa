"""StorageCluster and StorageNode resources as frozen rows for display, with progress and ETA (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Resource = Mapping[str, Any]


def parse_time(ts: Any) -> datetime | None:
    """A Kubernetes timestamp (`2026-01-01T00:00:00Z`), None when absent or malformed."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def eta(started: datetime | None, now: datetime, done: int | None, total: int | None) -> timedelta | None:
    """Time left if the rest goes at the pace so far (`done` of `total` since `started`); None if unknown.

    Zero once everything is done; None before anything moved (no pace yet) or without a start time.
    """
    if done is None or total is None or total <= 0:
        return None
    if done >= total:
        return timedelta(0)
    if started is None or done <= 0:
        return None
    elapsed = max((now - started).total_seconds(), 0.0)
    return timedelta(seconds=elapsed * (total - done) / done)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or () if c.get("type") == type_), None)


@dataclass(frozen=True)
class NodeRebalance:
    """One node's part of a global rebalance, as its StorageNode status reports it."""

    id: str
    stage: str
    percent: int | None
    objects_sent: int | None
    objects_to_send: int | None
    bytes_sent: int | None
    bytes_to_send: int | None
    bytes_received: int | None
    started: datetime | None

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> NodeRebalance | None:
        """The node's `status.rebalance` (older statuses lack the sent/to-send figures: derived where possible)."""
        if not raw or not raw.get("id"):
            return None
        sent, remaining = _int(raw.get("bytesSent")), _int(raw.get("bytesRemaining"))
        to_send = _int(raw.get("bytesToSend"))
        if to_send is None and sent is not None and remaining is not None:
            to_send = sent + remaining
        moved = _int(raw.get("bytesMoved"))
        received = moved - sent if moved is not None and sent is not None else None
        objects_sent, objects_to_send = _int(raw.get("objectsSent")), _int(raw.get("objectsToSend"))
        if objects_to_send is None and objects_sent is not None and _int(raw.get("objectsRemaining")) is not None:
            objects_to_send = objects_sent + int(raw["objectsRemaining"])
        return cls(
            id=str(raw["id"]),
            stage=str(raw.get("stage") or "-"),
            percent=_int(raw.get("percent")),
            objects_sent=objects_sent,
            objects_to_send=objects_to_send,
            bytes_sent=sent,
            bytes_to_send=to_send,
            bytes_received=received,
            started=parse_time(raw.get("startedAt")),
        )

    @property
    def done(self) -> bool:
        """Whether the node's part is over."""
        return self.stage == "done"

    def eta(self, now: datetime, fallback_start: datetime | None) -> timedelta | None:
        """Time left for this node: by its own bytes sent since it started, else by its percent (a receiver's)."""
        if self.done:
            return timedelta(0)
        started = self.started or fallback_start
        if self.bytes_to_send:  # it has bytes of its own to send: its own pace
            return eta(started, now, self.bytes_sent, self.bytes_to_send)
        return eta(started, now, self.percent, 100 if self.percent is not None else None)


@dataclass(frozen=True)
class Capacity:
    """A node's filesystem figures (`status.capacity`; older operators do not write it)."""

    capacity: int | None
    used: int | None
    free: int | None

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> Capacity:
        """The node's `status.capacity`, unknown figures None."""
        raw = raw or {}
        return cls(_int(raw.get("capacityBytes")), _int(raw.get("usedBytes")), _int(raw.get("freeBytes")))


@dataclass(frozen=True)
class NodeRow:
    """One StorageNode as `show cluster` lists it."""

    name: str
    cluster: str
    state: str
    desired: str
    phase: str
    ready: str
    reason: str
    address: str
    objects: int | None
    copies: str  # reachable copies of its objects of the K asked ("1/2"), "-" when not reported
    below: int | None  # its objects with fewer than K reachable copies (an estimate)
    bytes: int | None
    capacity: Capacity
    map_version: int | None
    rebalance: NodeRebalance | None

    @classmethod
    def from_resource(cls, node: Resource) -> NodeRow:
        """A StorageNode object (as `kubectl get -o json` returns it)."""
        status = node.get("status") or {}
        spec = node.get("spec") or {}
        ready = _condition(status, "Ready")
        return cls(
            name=str(node["metadata"]["name"]),
            cluster=str(spec.get("cluster", "")),
            state=str(status.get("state") or "-"),
            desired=str(spec.get("state") or "online"),
            phase=str(status.get("phase") or "-"),
            ready=str(ready.get("status")) if ready else "-",
            reason=str(ready.get("reason") or "") if ready else "",
            address=str(status.get("address") or "-"),
            objects=_int(status.get("objects")),
            copies=str(status.get("reachableCopies") or "-"),
            below=_int(status.get("objectsBelowCopies")),
            bytes=_int(status.get("bytes")),
            capacity=Capacity.from_status(status.get("capacity")),
            map_version=_int(status.get("mapVersion")),
            rebalance=NodeRebalance.from_status(status.get("rebalance")),
        )


@dataclass(frozen=True)
class Rebalance:
    """A global rebalance as the StorageCluster status records it (`rebalance`, else `lastRebalance`)."""

    id: str
    state: str
    started: datetime | None
    finished: datetime | None
    bytes_sent: int | None
    bytes_to_send: int | None
    objects_sent: int | None
    objects_to_send: int | None
    percent: int | None

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> Rebalance | None:
        """A rebalance record, None when there is none."""
        if not raw or not raw.get("id"):
            return None
        return cls(
            id=str(raw["id"]),
            state=str(raw.get("state") or "-"),
            started=parse_time(raw.get("startedAt")),
            finished=parse_time(raw.get("finishedAt")),
            bytes_sent=_int(raw.get("bytesSent")),
            bytes_to_send=_int(raw.get("bytesToSend")),
            objects_sent=_int(raw.get("objectsSent")),
            objects_to_send=_int(raw.get("objectsToSend")),
            percent=_int(raw.get("percent")),
        )

    @property
    def running(self) -> bool:
        """Whether it still runs."""
        return self.state == "Running"

    def eta(self, now: datetime) -> timedelta | None:
        """Time left for the whole rebalance, by bytes sent since it started (zero once it is over)."""
        if not self.running:
            return timedelta(0)
        return eta(self.started, now, self.bytes_sent, self.bytes_to_send)


def _revision(status: Mapping[str, Any], updated: int | None, total: int) -> str | None:
    current, update = status.get("currentRevision"), status.get("updateRevision")
    progress = f"updated {updated}/{total}" if updated is not None else None
    if current and update and current != update:
        return f"{current} -> {update}" + (f", {progress}" if progress else "")
    return str(update or current or "") or progress


def _service(raw: Any) -> str | None:
    """The client Service of `status.service` as "name:port", None when the status has none."""
    if not isinstance(raw, Mapping) or not raw.get("name"):
        return None
    port = _int(raw.get("port"))
    return f"{raw['name']}:{port}" if port is not None else str(raw["name"])


@dataclass(frozen=True)
class ClusterView:
    """A StorageCluster with its nodes, as both commands show it."""

    namespace: str
    name: str
    state: str
    phase: str
    map_version: int | None
    node_counts: Mapping[str, int]
    copies: int | None  # K, as the map asks (else the spec)
    below: int | None  # objects with fewer than K reachable copies (an estimate; None: not reported)
    rebalance: Rebalance | None  # the running one, else the last one
    conditions: tuple[tuple[str, str, str, str], ...]  # (type, status, reason, message) of the notable ones
    revision: str | None  # rolling upgrades, when the operator reports them: "rev" or "old -> new, updated k/n"
    service: str | None  # the client Service as "name:port" (None: not reported)
    nodes: tuple[NodeRow, ...]

    @classmethod
    def from_resources(cls, cluster: Resource, nodes: Iterable[Resource]) -> ClusterView:
        """A StorageCluster object and the StorageNode objects (those of other clusters are left out)."""
        meta = cluster["metadata"]
        name = str(meta["name"])
        status = cluster.get("status") or {}
        rows = tuple(sorted((r for r in map(NodeRow.from_resource, nodes) if r.cluster == name), key=lambda r: r.name))
        notable = tuple(
            (str(c.get("type")), str(c.get("status")), str(c.get("reason") or ""), str(c.get("message") or ""))
            for c in status.get("conditions") or ()
            if (c.get("type") == "Degraded" and c.get("status") == "True")
            or (c.get("type") == "Progressing" and c.get("status") == "True")
        )
        updated = _int(status.get("updatedNodes"))
        smap = status.get("map") or {}
        asked = _int(((cluster.get("spec") or {}).get("redundancy") or {}).get("copies"))
        copies = _int(smap.get("copies")) or (1 if smap else asked)  # the map leaves out copies of 1
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=name,
            state=str(status.get("state") or (cluster.get("spec") or {}).get("state") or "-"),
            phase=str(status.get("phase") or "-"),
            map_version=_int((status.get("map") or {}).get("version")),
            node_counts={str(k): int(v) for k, v in (status.get("nodeCounts") or {}).items()},
            copies=copies,
            below=_int(status.get("objectsBelowCopies")),
            rebalance=Rebalance.from_status(status.get("rebalance"))
            or Rebalance.from_status(status.get("lastRebalance")),
            conditions=notable,
            revision=_revision(status, updated, len(rows)),
            service=_service(status.get("service")),
            nodes=rows,
        )

    def node_part(self, row: NodeRow) -> NodeRebalance | None:
        """The node's part in this cluster's current (or last) rebalance; None if it reports another one."""
        if self.rebalance is None or row.rebalance is None or row.rebalance.id != self.rebalance.id:
            return None
        return row.rebalance
