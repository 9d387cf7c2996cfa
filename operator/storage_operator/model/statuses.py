"""The StorageCluster and StorageNode statuses the operator persists, as frozen values (``from_status``/``to_status``).

Everything a pass needs to resume lives in the API: the StorageCluster's status holds the map, the running
rebalance, the last one and the transition in progress; a StorageNode's status holds its effective state.
These types are that status read once and written back whole; a change is a new value (``dataclasses.replace``),
never an edit, as kopf's ``progression.HandlerState`` does with ``from_storage``/``for_storage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from storage_node.schemas import ClusterMap

from storage_operator.model import maps
from storage_operator.model.states import NodeState, RebalanceState, UpgradeStrategy

Raw = dict[str, Any]


def _compact(raw: Mapping[str, Any]) -> Raw:
    """`raw` without its None values (a key that is absent from a status is None in its value)."""
    return {k: v for k, v in raw.items() if v is not None}


@dataclass(frozen=True)
class Totals:
    """What a global rebalance moved so far, summed over the nodes' reports (`status.rebalance`'s counters)."""

    objects_to_send: int = 0
    bytes_to_send: int = 0
    objects_sent: int = 0
    bytes_sent: int = 0
    objects_received: int = 0
    bytes_received: int = 0
    percent: int = 0

    _KEYS = (
        ("objects_to_send", "objectsToSend"),
        ("bytes_to_send", "bytesToSend"),
        ("objects_sent", "objectsSent"),
        ("bytes_sent", "bytesSent"),
        ("objects_received", "objectsReceived"),
        ("bytes_received", "bytesReceived"),
        ("percent", "percent"),
    )

    @classmethod
    def from_status(cls, raw: Mapping[str, Any]) -> Totals | None:
        """The counters kept in a rebalance record (None before its first progress report)."""
        if not any(key in raw for _, key in cls._KEYS):
            return None
        return cls(**{attr: int(raw.get(key, 0)) for attr, key in cls._KEYS})

    def to_status(self) -> Raw:
        """The counters as kept in a rebalance record."""
        return {key: getattr(self, attr) for attr, key in self._KEYS}


@dataclass(frozen=True)
class Rebalance:
    """One global rebalance as the operator tracks it (`status.rebalance`, then `status.lastRebalance`)."""

    id: str
    state: RebalanceState
    map_version: int
    started_at: str
    last_progress_at: str
    progress_mark: int = 0
    reason: str = ""
    totals: Totals | None = None
    finished_at: str | None = None

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> Rebalance | None:
        """The record as stored, None when there is none."""
        if not raw:
            return None
        return cls(
            id=str(raw["id"]),
            state=RebalanceState(raw["state"]),
            map_version=int(raw.get("mapVersion", 0)),
            started_at=str(raw.get("startedAt", "")),
            last_progress_at=str(raw.get("lastProgressAt", "")),
            progress_mark=int(raw.get("progressMark", 0)),
            reason=str(raw.get("reason", "")),
            totals=Totals.from_status(raw),
            finished_at=raw.get("finishedAt"),
        )

    def to_status(self) -> Raw:
        """The record as stored (keys it does not have are left out)."""
        return _compact(
            {
                "id": self.id,
                "state": self.state.value,
                "mapVersion": self.map_version,
                "startedAt": self.started_at,
                "lastProgressAt": self.last_progress_at,
                "progressMark": self.progress_mark,
                "reason": self.reason,
                **(self.totals.to_status() if self.totals else {}),
                "finishedAt": self.finished_at,
            }
        )

    @property
    def running(self) -> bool:
        """Whether it still runs (the one place that says so)."""
        return self.state is RebalanceState.RUNNING

    @property
    def percent(self) -> int:
        """How far it got, by bytes sent (100 before any report of work to do)."""
        return self.totals.percent if self.totals is not None else 100


@dataclass(frozen=True)
class Transition:
    """The one membership change being carried out (`status.transition`)."""

    node: str
    to: NodeState
    operation: str
    started_at: str
    source: NodeState | None = None  # the effective state it started from (`from`); None: not yet a member
    cleaned: bool = False  # decommission: the node's cleanup is done

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> Transition | None:
        """The transition as stored, None when none is in progress."""
        if not raw:
            return None
        return cls(
            node=str(raw["node"]),
            to=NodeState(raw["to"]),
            operation=str(raw["operation"]),
            started_at=str(raw["startedAt"]),
            source=NodeState(raw["from"]) if raw.get("from") else None,
            cleaned=bool(raw.get("cleaned", False)),
        )

    def to_status(self) -> Raw:
        """The transition as stored."""
        return _compact(
            {
                "node": self.node,
                "from": self.source.value if self.source else None,
                "to": self.to.value,
                "operation": self.operation,
                "startedAt": self.started_at,
                "cleaned": self.cleaned,
            }
        )


@dataclass(frozen=True)
class Rollout:
    """The node whose pod a rolling upgrade is re-creating now, and how (`status.rollout`)."""

    node: str
    strategy: UpgradeStrategy
    started_at: str

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> Rollout | None:
        """The record as stored, None when no node is being rolled."""
        if not raw:
            return None
        return cls(node=str(raw["node"]), strategy=UpgradeStrategy(raw["strategy"]), started_at=str(raw["startedAt"]))

    def to_status(self) -> Raw:
        """The record as stored."""
        return {"node": self.node, "strategy": self.strategy.value, "startedAt": self.started_at}


#: The part of `status` a pass resumes from, written before the nodes are told (the map is authoritative).
RECORD_KEYS = ("map", "rebalance", "lastRebalance", "transition", "rollout")
#: The whole `status` the operator writes.
STATUS_KEYS = (
    *RECORD_KEYS,
    "state",
    "phase",
    "observedGeneration",
    "nodeCounts",
    "conditions",
    "currentRevision",
    "updateRevision",
    "updatedNodes",
)


@dataclass(frozen=True)
class ClusterStatus:
    """A StorageCluster's status: the resumable record (map, rebalances, transition) and the summary users read."""

    map: ClusterMap | None = None
    rebalance: Rebalance | None = None
    last_rebalance: Rebalance | None = None
    transition: Transition | None = None
    state: str | None = None
    phase: str | None = None
    observed_generation: int | None = None
    node_counts: Mapping[str, int] | None = None
    conditions: tuple[Mapping[str, Any], ...] | None = None
    rollout: Rollout | None = None  # the node a rolling upgrade is re-creating now
    current_revision: str | None = None  # the revision of the pods not updated yet (all of them once done)
    update_revision: str | None = None  # the revision the spec asks for
    updated_nodes: int | None = None  # nodes whose pod is at update_revision

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> ClusterStatus:
        """The status as stored (an empty one before the first write)."""
        raw = raw or {}
        gen = raw.get("observedGeneration")
        conds = raw.get("conditions")
        return cls(
            map=maps.from_status(raw.get("map")),
            rebalance=Rebalance.from_status(raw.get("rebalance")),
            last_rebalance=Rebalance.from_status(raw.get("lastRebalance")),
            transition=Transition.from_status(raw.get("transition")),
            state=raw.get("state"),
            phase=raw.get("phase"),
            observed_generation=None if gen is None else int(gen),
            node_counts=raw.get("nodeCounts"),
            conditions=None if conds is None else tuple(conds),
            rollout=Rollout.from_status(raw.get("rollout")),
            current_revision=raw.get("currentRevision"),
            update_revision=raw.get("updateRevision"),
            updated_nodes=None if raw.get("updatedNodes") is None else int(raw["updatedNodes"]),
        )

    def to_status(self) -> Raw:
        """The status as stored (keys it does not have are left out)."""
        return _compact(
            {
                "map": maps.to_status(self.map),
                "rebalance": self.rebalance.to_status() if self.rebalance else None,
                "lastRebalance": self.last_rebalance.to_status() if self.last_rebalance else None,
                "transition": self.transition.to_status() if self.transition else None,
                "state": self.state,
                "phase": self.phase,
                "observedGeneration": self.observed_generation,
                "nodeCounts": None if self.node_counts is None else dict(self.node_counts),
                "conditions": None if self.conditions is None else [dict(c) for c in self.conditions],
                "rollout": self.rollout.to_status() if self.rollout else None,
                "currentRevision": self.current_revision,
                "updateRevision": self.update_revision,
                "updatedNodes": self.updated_nodes,
            }
        )

    @property
    def running(self) -> Rebalance | None:
        """The global rebalance that runs now, if one does."""
        return self.rebalance if self.rebalance is not None and self.rebalance.running else None

    @property
    def rebalance_id(self) -> str | None:
        """The id of the current rebalance record, else of the last one (what the conditions name)."""
        rb = self.rebalance or self.last_rebalance
        return rb.id if rb is not None else None

    def with_map(self, smap: ClusterMap, *, rebalance: bool, why: str, now: str) -> ClusterStatus:
        """The status with a new map; with `rebalance`, a new running rebalance that supersedes a running one."""
        if not rebalance:
            return replace(self, map=smap)
        assert smap.rebalance_id is not None, "a map that starts a rebalance names it"
        last = self.last_rebalance
        if self.running is not None:
            last = replace(self.running, state=RebalanceState.SUPERSEDED)
        started = Rebalance(
            id=smap.rebalance_id,
            state=RebalanceState.RUNNING,
            map_version=smap.version,
            started_at=now,
            last_progress_at=now,
            reason=why,
        )
        return replace(self, map=smap, rebalance=started, last_rebalance=last)


@dataclass(frozen=True)
class NodeStatus:
    """A StorageNode's status as the operator writes it: effective state, phase, conditions, progress."""

    state: NodeState | None = None  # the effective state (None before it first joined)
    phase: str | None = None
    observed_generation: int | None = None
    pod: str | None = None
    address: str | None = None
    map_version: int | None = None
    objects: int | None = None
    bytes: int | None = None
    capacity: Mapping[str, Any] | None = None  # its volume's space, as the node reports it
    rebalance: Mapping[str, Any] | None = None  # its progress in the current global rebalance
    pending_since: str | None = None  # when its requested change started waiting for its turn
    conditions: tuple[Mapping[str, Any], ...] = ()

    _KEYS = (
        ("state", "state"),
        ("phase", "phase"),
        ("observed_generation", "observedGeneration"),
        ("pod", "pod"),
        ("address", "address"),
        ("map_version", "mapVersion"),
        ("objects", "objects"),
        ("bytes", "bytes"),
        ("capacity", "capacity"),
        ("rebalance", "rebalance"),
        ("pending_since", "pendingSince"),
    )

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> NodeStatus:
        """The status as stored (an empty one before the first write)."""
        raw = raw or {}
        values: dict[str, Any] = {attr: raw.get(key) for attr, key in cls._KEYS}
        values["state"] = NodeState(raw["state"]) if raw.get("state") else None
        return cls(**values, conditions=tuple(raw.get("conditions") or ()))

    def same_as(self, other: NodeStatus) -> bool:
        """Whether `other` says the same (conditions compared without their lastTransitionTime)."""
        if any(getattr(self, attr) != getattr(other, attr) for attr, _ in self._KEYS):
            return False
        if len(self.conditions) != len(other.conditions):
            return False
        keys = ("type", "status", "reason", "message", "observedGeneration")
        pairs = zip(self.conditions, other.conditions, strict=True)
        return all(all(a.get(k) == b.get(k) for k in keys) for a, b in pairs)

    def to_status(self) -> Raw:
        """The status as stored (keys it does not have are left out)."""
        raw = {key: getattr(self, attr) for attr, key in self._KEYS}
        raw["state"] = self.state.value if self.state else None
        raw["rebalance"] = None if self.rebalance is None else dict(self.rebalance)
        raw["capacity"] = None if self.capacity is None else dict(self.capacity)
        out = _compact(raw)
        if self.conditions:
            out["conditions"] = [dict(c) for c in self.conditions]
        return out


def patch(held: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[Raw | None, Raw]:
    """The merge patch that makes the status `held` carry `body`, and that status after it.

    None when `held` carries it already (nothing to write). Each value replaces the old one whole: keys only
    the old value has are removed, so a superseded rebalance does not keep the finishedAt or totals of the one
    it replaced; a None value removes the key.
    """
    if all(held.get(k) == v for k, v in body.items()):
        return None, dict(held)
    after = dict(held)
    for k, v in body.items():
        if v is None:
            after.pop(k, None)
        else:
            after[k] = v
    return {k: _replacing(held.get(k), v) for k, v in body.items()}, after


def _replacing(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**dict.fromkeys((k for k in old if k not in new), None), **new}
    return new
