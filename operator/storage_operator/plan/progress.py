"""Rebalance progress as users read it: moved, remaining, percent, rate and ETA per node and cluster-wide (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from storage_node.schemas import RebalanceStage, RebalanceStatus

from storage_operator.model import clock
from storage_operator.model.statuses import Totals


def _percent(done: int, total: int) -> int:
    return 100 if total <= 0 else min(100, (100 * done) // total)


def cluster_totals(reports: Mapping[str, RebalanceStatus], rid: str) -> Totals:
    """Sums over the nodes' reports for rebalance `rid` (reports of other ids are ignored)."""
    current = [r for r in reports.values() if r.id == rid]
    sent, to_send = sum(r.bytes_sent for r in current), sum(r.bytes_to_send for r in current)
    return Totals(
        objects_to_send=sum(r.objects_to_send for r in current),
        bytes_to_send=to_send,
        objects_sent=sum(r.objects_sent for r in current),
        bytes_sent=sent,
        objects_received=sum(r.objects_received for r in current),
        bytes_received=sum(r.bytes_received for r in current),
        percent=_percent(sent, to_send),
    )


def completed(reports: Mapping[str, RebalanceStatus], rid: str, required: set[str]) -> bool:
    """Whether every required node reports rebalance `rid` done."""
    return all(n in reports and reports[n].id == rid and reports[n].stage is RebalanceStage.done for n in required)


def failed(reports: Mapping[str, RebalanceStatus], rid: str) -> list[str]:
    """Nodes whose part of rebalance `rid` ended aborted or in error (it must be restarted under a new id)."""
    bad = (RebalanceStage.aborted, RebalanceStage.error)
    return sorted(n for n, r in reports.items() if r.id == rid and r.stage in bad)


def marker(reports: Mapping[str, RebalanceStatus], rid: str) -> int:
    """A number that grows while the rebalance moves anything (to tell progress from a stall)."""
    t = cluster_totals(reports, rid)
    return (
        t.objects_sent
        + t.objects_received
        + sum(1 for r in reports.values() if r.id == rid and r.stage is RebalanceStage.done)
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def node_progress(report: RebalanceStatus, cluster_percent: int, now: datetime) -> dict[str, object]:
    """One node's progress in the current rebalance, for its StorageNode status."""
    moved_objects = report.objects_sent + report.objects_received
    moved_bytes = report.bytes_sent + report.bytes_received
    remaining_objects = max(0, report.objects_to_send - report.objects_sent)
    remaining_bytes = max(0, report.bytes_to_send - report.bytes_sent)
    done = report.stage is RebalanceStage.done
    if done:
        percent = 100
    elif report.objects_to_send > 0:
        percent = _percent(report.bytes_sent, report.bytes_to_send)
    else:
        percent = cluster_percent
    out: dict[str, object] = {
        "id": report.id,
        "stage": report.stage.value,
        "objectsMoved": moved_objects,
        "bytesMoved": moved_bytes,
        "objectsRemaining": remaining_objects,
        "bytesRemaining": remaining_bytes,
        "objectsSent": report.objects_sent,
        "objectsToSend": report.objects_to_send,
        "bytesSent": report.bytes_sent,
        "bytesToSend": report.bytes_to_send,
        "percent": percent,
        "progress": f"{percent}%",
    }
    if report.started_at is not None:
        out["startedAt"] = clock.iso(report.started_at)
        end = report.finished_at if done and report.finished_at is not None else now
        elapsed = max((end - report.started_at).total_seconds(), 1e-3)
        rate = moved_bytes / elapsed
        out["rateBytesPerSecond"] = int(rate)
        if not done and rate > 0 and remaining_bytes > 0:
            out["eta"] = _duration(remaining_bytes / rate)
    return out
