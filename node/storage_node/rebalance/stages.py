"""Stages of this node's part of a rebalance (pure): the moves between them, each written down once.

``idle -> init -> traverse -> fin -> done``; ``-> aborted`` (admin) or ``-> error`` (a bug) from an active
stage; a newer rebalance id starts over at ``init``; ``done -> traverse`` when an object turns up out of
place after the part finished (`engine.Rebalancer.retraverse`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from storage_node.schemas import ClusterMap, RebalanceStage, RebalanceStatus

ACTIVE = frozenset({RebalanceStage.init, RebalanceStage.traverse, RebalanceStage.fin})


def now() -> datetime:
    """The wall-clock time stamped on stage changes and errors."""
    return datetime.now(UTC)


def active(status: RebalanceStatus) -> bool:
    """Whether the part is under way (resumed after a restart, stopped by an abort)."""
    return status.stage in ACTIVE


def started(cmap: ClusterMap, received: tuple[int, int]) -> RebalanceStatus:
    """The status of the map's rebalance, just started; `received`: (objects, bytes) that arrived early."""
    status = RebalanceStatus(
        id=cmap.rebalance_id, map_version=cmap.version, stage=RebalanceStage.init, started_at=now()
    )
    status.objects_received, status.bytes_received = received
    return status


def finish(status: RebalanceStatus, stage: RebalanceStage) -> None:
    """End the part: ``done``, ``aborted`` or ``error``."""
    status.stage = stage
    status.finished_at = now()
