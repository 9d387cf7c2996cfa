"""The StorageCluster and StorageNode statuses the operator persists, as frozen values (``from_status``/``to_status``).

Everything a pass needs to resume lives in the API: the StorageCluster's status holds the map, the running
rebalance, the last one and the transition in progress; a StorageNode's status holds its effective state.
These types are that status read once and written back whole; a change is a new value (``model_copy``), never
an edit, as kopf's ``progression.HandlerState`` does with ``from_storage``/``for_storage``. Their camelCase keys
come from the field names (``camel.CamelModel``); a key that is absent from a status is None in its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from storage_node.schemas import ClusterMap

from storage_operator.model import maps
from storage_operator.model.camel import Blank, CamelModel
from storage_operator.model.states import NodeState, RebalanceState, ReplaceStage, UpgradeStrategy

Raw = dict[str, Any]
Condition = dict[str, Any]


class Totals(CamelModel):
    """What a global rebalance moved so far, summed over the nodes' reports (`status.rebalance`'s counters)."""

    objects_to_send: int = 0
    bytes_to_send: int = 0
    objects_sent: int = 0
    bytes_sent: int = 0
    objects_received: int = 0
    bytes_received: int = 0
    percent: int = 0


_TOTALS = tuple(f.alias for f in Totals.model_fields.values())


class Rebalance(CamelModel):
    """One global rebalance as the operator tracks it (`status.rebalance`, then `status.lastRebalance`).

    Its counters (``Totals``) are kept beside the other keys of the record, not under a key of their own; a
    record has them all or none (none before the first progress report).
    """

    id: str
    state: RebalanceState
    map_version: int = 0
    started_at: str = ""
    last_progress_at: str = ""
    progress_mark: int = 0
    reason: str = ""
    totals: Totals | None = None
    finished_at: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _nest_totals(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and "totals" not in raw and any(key in raw for key in _TOTALS):
            return {**raw, "totals": {key: raw[key] for key in _TOTALS if key in raw}}
        return raw

    @model_serializer(mode="wrap")
    def _flatten_totals(self, handler: SerializerFunctionWrapHandler) -> Raw:
        out: Raw = handler(self)
        totals = out.pop("totals", None) or {}
        return {**out, **totals}

    @property
    def running(self) -> bool:
        """Whether it still runs (the one place that says so)."""
        return self.state is RebalanceState.RUNNING

    @property
    def percent(self) -> int:
        """How far it got, by bytes sent (100 before any report of work to do)."""
        return self.totals.percent if self.totals is not None else 100


class Transition(CamelModel):
    """The one membership change being carried out (`status.transition`)."""

    node: str
    to: NodeState
    operation: str
    started_at: str
    # the effective state it started from; None: not yet a member
    source: Blank[NodeState] = Field(default=None, validation_alias="from", serialization_alias="from")
    cleaned: bool = False  # decommission: the node's cleanup is done


class Rollout(CamelModel):
    """The node whose pod a rolling upgrade is re-creating now, and how (`status.rollout`)."""

    node: str
    strategy: UpgradeStrategy
    started_at: str


class ClientService(CamelModel):
    """The cluster's client Service, where clients reach it (`status.service`): ``<name>.<namespace>.svc:<port>``."""

    name: str
    port: int


class ClusterStatus(CamelModel):
    """A StorageCluster's status: the resumable record (map, rebalances, transition) and the summary users read."""

    map: ClusterMap | None = None  # kept in the form of ``maps.StoredMap``
    rebalance: Blank[Rebalance] = None
    last_rebalance: Blank[Rebalance] = None
    transition: Blank[Transition] = None
    rollout: Blank[Rollout] = None  # the node a rolling upgrade is re-creating now
    state: str | None = None
    phase: str | None = None
    observed_generation: int | None = None
    node_counts: dict[str, int] | None = None
    conditions: tuple[Condition, ...] | None = None
    current_revision: str | None = None  # the revision of the pods not updated yet (all of them once done)
    update_revision: str | None = None  # the revision the spec asks for
    updated_nodes: int | None = None  # nodes whose pod is at update_revision
    objects_below_copies: int | None = None  # objects with fewer than K reachable copies, estimated (plan.reachable)
    service: ClientService | None = None  # the client Service as observed, when it is the cluster's own

    @field_validator("map", mode="before")
    @classmethod
    def _read_map(cls, raw: Any) -> ClusterMap | None:
        return raw if isinstance(raw, ClusterMap) else maps.from_status(raw)

    @field_serializer("map")
    def _write_map(self, smap: ClusterMap | None) -> Raw | None:
        return maps.to_status(smap)

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> ClusterStatus:
        """The status as stored (an empty one before the first write)."""
        return cls.model_validate(dict(raw or {}))

    def to_status(self) -> Raw:
        """The status as stored (keys it does not have are left out)."""
        return self.to_api()

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
            return self.model_copy(update={"map": smap})
        assert smap.rebalance_id is not None, "a map that starts a rebalance names it"
        last = self.last_rebalance
        if self.running is not None:
            last = self.running.model_copy(update={"state": RebalanceState.SUPERSEDED})
        started = Rebalance(
            id=smap.rebalance_id,
            state=RebalanceState.RUNNING,
            map_version=smap.version,
            started_at=now,
            last_progress_at=now,
            reason=why,
        )
        return self.model_copy(update={"map": smap, "rebalance": started, "last_rebalance": last})


#: The part of `status` a pass resumes from, written before the nodes are told (the map is authoritative).
RECORD_KEYS = ("map", "rebalance", "lastRebalance", "transition", "rollout")
#: The whole `status` the operator writes.
STATUS_KEYS = tuple(str(f.alias) for f in ClusterStatus.model_fields.values())


class Replacement(CamelModel):
    """`status.replacement`: the last replacement of the node's volume asked for, and how far it has come."""

    request: str
    stage: ReplaceStage
    started_at: str | None = None
    claim_uid: str | None = None  # the volume claim being replaced (a claim with another uid is the new one)
    lost_objects: int | None = None  # with one copy: the objects its old volume held (its last report)
    message: str = ""


class NodeStatus(CamelModel):
    """A StorageNode's status as the operator writes it: effective state, phase, conditions, progress."""

    state: Blank[NodeState] = None  # the effective state (None before it first joined)
    phase: str | None = None
    observed_generation: int | None = None
    pod: str | None = None
    address: str | None = None
    map_version: int | None = None
    objects: int | None = None
    bytes: int | None = None
    capacity: dict[str, Any] | None = None  # its volume's space, as the node reports it
    rebalance: dict[str, Any] | None = None  # its progress in the current global rebalance
    pending_since: str | None = None  # when its requested change started waiting for its turn
    unavailable_since: str | None = None  # since when it should serve and does not (phase Unavailable)
    reachable_copies: str | None = None  # "reachable/K" copies of its objects, e.g. "1/2" while it is unavailable
    objects_below_copies: int | None = None  # its objects with fewer than K reachable copies, estimated
    replacement: Replacement | None = None
    conditions: tuple[Condition, ...] = ()

    @field_validator("conditions", mode="before")
    @classmethod
    def _no_conditions(cls, raw: Any) -> Any:
        return raw or ()

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> NodeStatus:
        """The status as stored (an empty one before the first write)."""
        return cls.model_validate(dict(raw or {}))

    def same_as(self, other: NodeStatus) -> bool:
        """Whether `other` says the same (conditions compared without their lastTransitionTime)."""
        if self.model_dump(exclude={"conditions"}) != other.model_dump(exclude={"conditions"}):
            return False
        if len(self.conditions) != len(other.conditions):
            return False
        keys = ("type", "status", "reason", "message", "observedGeneration")
        pairs = zip(self.conditions, other.conditions, strict=True)
        return all(all(a.get(k) == b.get(k) for k in keys) for a, b in pairs)

    def to_status(self) -> Raw:
        """The status as stored (keys it does not have are left out; no conditions: no key)."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude=None if self.conditions else {"conditions"}
        )


def patch(current: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[Raw | None, Raw]:
    """The merge patch that makes the status `current` carry `body`, and that status after it.

    None when `current` carries it already (nothing to write). Each value replaces the old one whole: keys only
    the old value has are removed, so a superseded rebalance does not keep the finishedAt or totals of the one
    it replaced; a None value removes the key.
    """
    if all(current.get(k) == v for k, v in body.items()):
        return None, dict(current)
    after = dict(current)
    for k, v in body.items():
        if v is None:
            after.pop(k, None)
        else:
            after[k] = v
    return {k: _replacing(current.get(k), v) for k, v in body.items()}, after


def _replacing(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**dict.fromkeys((k for k in old if k not in new), None), **new}
    return new
