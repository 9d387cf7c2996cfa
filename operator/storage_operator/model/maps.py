"""Cluster-map evolution and its form in the StorageCluster status (pure): every change is a new version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, rebalance_id, rebalance_number

from storage_operator.model.camel import CamelModel


class StoredMap(CamelModel):
    """The map in the form kept in `status.map`: camelCase, its nodes a list sorted by id (readable with kubectl).

    No ``rebalanceId`` before the first rebalance: the API server keeps no null (a merge patch removes the key),
    so a null here would never compare equal to the stored map and every pass would write it again.
    """

    version: int = 0
    rebalance_id: str | None = None
    nodes: list[NodeEntry] = Field(default_factory=list)
    copies: int | None = None  # None: one copy (left out, as in a map stored before copies existed)


def from_status(raw: Mapping[str, Any] | None) -> ClusterMap | None:
    """The authoritative map as stored in `status.map`, or None before the first one."""
    stored = StoredMap.model_validate(raw or {})
    if not stored.version:
        return None
    nodes = {n.id: n for n in stored.nodes}
    return ClusterMap(version=stored.version, rebalance_id=stored.rebalance_id, nodes=nodes, copies=stored.copies or 1)


def to_status(smap: ClusterMap | None) -> dict[str, Any] | None:
    """The map in the form kept in `status.map` (``StoredMap``)."""
    if smap is None:
        return None
    nodes = sorted(smap.nodes.values(), key=lambda e: e.id)
    copies = smap.copies if smap.copies != 1 else None
    stored = StoredMap(version=smap.version, rebalance_id=smap.rebalance_id, nodes=nodes, copies=copies)
    return stored.to_api()


def _next(
    smap: ClusterMap | None, nodes: dict[str, NodeEntry], *, rebalance: bool, copies: int | None = None
) -> ClusterMap:
    version = 1 if smap is None else smap.version + 1
    current = None if smap is None else smap.rebalance_id
    rid = rebalance_id(rebalance_number(current) + 1) if rebalance else current
    k = copies if copies is not None else (1 if smap is None else smap.copies)
    return ClusterMap(version=version, rebalance_id=rid, nodes=nodes, copies=k)


def with_nodes(
    smap: ClusterMap | None, entries: list[NodeEntry], *, rebalance: bool = False, copies: int | None = None
) -> ClusterMap:
    """A new version with several nodes added (or their entries replaced) at once; a new rebalance id when asked.

    Without a rebalance: forming a cluster (no data yet). With one: new nodes joining together. `copies`: the
    first map's (later maps keep the one before's unless `with_copies` changes it).
    """
    nodes = dict(smap.nodes) if smap is not None else {}
    # an entry replaced (new flags) keeps when its node entered the map
    nodes.update({e.id: e.model_copy(update={"since": nodes[e.id].since}) if e.id in nodes else e for e in entries})
    return _next(smap, nodes, rebalance=rebalance, copies=copies)


def with_copies(smap: ClusterMap, copies: int) -> ClusterMap:
    """A new version holding `copies` copies of each object, with a rebalance that adds or removes them."""
    return _next(smap, dict(smap.nodes), rebalance=True, copies=copies)


def without_node(smap: ClusterMap, node_id: str, *, rebalance: bool = False) -> ClusterMap:
    """A new version without `node_id`; a new rebalance id only when asked (forced with K copies: re-create them).

    Otherwise the same rebalance id: its data already moved, or the removal is forced with one copy.
    """
    nodes = {k: v for k, v in smap.nodes.items() if k != node_id}
    return _next(smap, nodes, rebalance=rebalance)


def with_rebalance(smap: ClusterMap) -> ClusterMap:
    """A new version with the same nodes and a new rebalance id (restarts an aborted or failed rebalance)."""
    return _next(smap, dict(smap.nodes), rebalance=True)


def with_addresses(smap: ClusterMap, urls: Mapping[str, str]) -> ClusterMap:
    """A new version when a member's address changed (pod re-created elsewhere); the same map otherwise."""
    changed = {k: url for k, url in urls.items() if k in smap.nodes and smap.nodes[k].url != url}
    if not changed:
        return smap
    nodes = {k: v.model_copy(update={"url": changed[k]}) if k in changed else v for k, v in smap.nodes.items()}
    return _next(smap, nodes, rebalance=False)


def flags_of(smap: ClusterMap | None, node_id: str, but: NodeFlag | None = None) -> tuple[NodeFlag, ...] | None:
    """The node's flags in the map (without `but`), None when it is not a member."""
    if smap is None or node_id not in smap.nodes:
        return None
    return tuple(f for f in smap.nodes[node_id].flags if f is not but)


def with_flags(smap: ClusterMap, node_id: str, flags: Sequence[NodeFlag]) -> ClusterMap:
    """A new version in which `node_id` has `flags`, with a rebalance (its data moves)."""
    entry = smap.nodes[node_id].model_copy(update={"flags": list(flags)})
    return with_nodes(smap, [entry], rebalance=True)
