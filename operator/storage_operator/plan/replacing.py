"""Replacing a node's volume (`spec.replace`), decided from what a pass sees (pure): stage by stage, resumable.

A replacement keeps the node's identity and discards its volume: the pod goes, then its claim (and with it the
volume), then a new empty claim and a pod come up with the same node id, and the node is refilled from the
other holders (it reports ``refill_after``; ``steps.redundancy.refill`` starts the rebalance). Only its share
moves. A node that still answers is replaced only when ``confirm`` repeats its name. Until its volume is deleted
the replacement can be cancelled (remove ``spec.replace`` or give another ``request``); after that it goes on.
With one copy its objects are lost with the volume: the record says how many (its last report).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_operator.model.specs import ReplaceSpec
from storage_operator.model.states import ReplaceStage
from storage_operator.model.statuses import Replacement

ACTIVE = frozenset(
    {ReplaceStage.REMOVING_POD, ReplaceStage.REMOVING_VOLUME, ReplaceStage.STARTING, ReplaceStage.REFILLING}
)
NO_POD = frozenset({ReplaceStage.REMOVING_POD, ReplaceStage.REMOVING_VOLUME})  # stages in which no pod may run


@dataclass(frozen=True, slots=True)
class Facts:
    """What a pass knows of one node for its replacement."""

    name: str
    asked: ReplaceSpec | None  # spec.replace
    current: Replacement | None  # status.replacement
    member: bool  # in the map
    serving: bool  # it should serve (online or maintenance, no transition under way)
    answering: bool  # its node process answered this pass
    pod_exists: bool
    claim_uid: str | None  # its volume claim's uid (None: no claim)
    filled: bool  # it holds the current map and is not refilling any more
    rebalancing: bool  # a global rebalance is running
    copies: int
    objects: int | None  # its last reported object count
    now: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do: the new record (None: unchanged), the deletions, an event (reason, message; warning or not)."""

    record: Replacement | None = None
    delete_pod: bool = False
    delete_claim: bool = False
    event: tuple[str, str, bool] | None = None


def wants_pod(current: Replacement | None) -> bool:
    """Whether the node's pod may run (not while its old volume is being removed)."""
    return current is None or current.stage not in NO_POD


def decide(f: Facts) -> Decision:
    """The next step of the node's replacement."""
    cur, asked = f.current, f.asked
    active = cur is not None and cur.stage in ACTIVE
    if active:
        assert cur is not None
        if cur.stage is ReplaceStage.REMOVING_POD and (asked is None or asked.request != cur.request):
            message = "cancelled before its volume was deleted: the node comes back on the volume it had"
            record = cur.model_copy(update={"stage": ReplaceStage.CANCELLED, "message": message})
            return Decision(record, event=("ReplaceCancelled", f"{f.name}: replacement {message}", False))
        return _go_on(f, cur)
    if asked is None or (cur is not None and cur.request == asked.request and cur.stage not in _RETRIED):
        return Decision()
    if not (f.member and f.serving):
        message = "only a member of the map that should serve (online or maintenance, nothing under way) is replaced"
        return _once(f, Replacement(request=asked.request, stage=ReplaceStage.REFUSED, message=message), "Refused")
    if f.answering and asked.confirm != f.name:
        message = (
            f"{f.name} still answers: replacing it discards its volume"
            + (" and, with one copy, the objects on it" if f.copies == 1 else "")
            + f"; set spec.replace.confirm to {f.name} to go ahead"
        )
        record = Replacement(request=asked.request, stage=ReplaceStage.NEEDS_CONFIRMATION, message=message)
        return _once(f, record, "NeedsConfirmation")
    lost = f.objects if f.copies == 1 else None
    message = "its pod goes, then its volume; a new empty volume is filled from the other holders"
    if f.copies == 1:
        held = "an unknown number of" if lost is None else f"the {lost}"
        message = f"with one copy, {held} objects on its volume are lost (its last report); " + message
    record = Replacement(
        request=asked.request,
        stage=ReplaceStage.REMOVING_POD,
        started_at=f.now,
        claim_uid=f.claim_uid,
        lost_objects=lost,
        message=message,
    )
    return Decision(record, delete_pod=f.pod_exists, event=("ReplaceStarted", f"{f.name}: {message}", f.copies == 1))


_RETRIED = frozenset({ReplaceStage.NEEDS_CONFIRMATION, ReplaceStage.REFUSED})  # looked at again every pass


def _once(f: Facts, record: Replacement, reason: str) -> Decision:
    """A record that waits (confirmation, refusal), with its event only when it is new."""
    if f.current == record:
        return Decision()
    return Decision(record, event=(f"Replace{reason}", f"{f.name}: {record.message}", True))


def _go_on(f: Facts, cur: Replacement) -> Decision:
    """The replacement under way, one stage further when its condition holds."""
    if cur.stage is ReplaceStage.REMOVING_POD:
        if f.pod_exists:
            return Decision(delete_pod=True)
        gone = f.claim_uid is None or f.claim_uid != cur.claim_uid
        message = "its volume claim is deleted with its volume; the replacement can no longer be cancelled"
        record = cur.model_copy(update={"stage": ReplaceStage.REMOVING_VOLUME, "message": message})
        return Decision(record, delete_claim=not gone)
    if cur.stage is ReplaceStage.REMOVING_VOLUME:
        if f.claim_uid is not None and f.claim_uid == cur.claim_uid:
            return Decision(delete_claim=True)  # still terminating (its pod was the last user)
        message = "a new empty volume and a pod with the same node identity are starting"
        return Decision(cur.model_copy(update={"stage": ReplaceStage.STARTING, "message": message}))
    if cur.stage is ReplaceStage.STARTING:
        if not f.answering:
            return Decision()
        message = "its share is copied to it from the other holders (a global rebalance)"
        return Decision(cur.model_copy(update={"stage": ReplaceStage.REFILLING, "message": message}))
    if not (f.filled and not f.rebalancing):
        return Decision()
    message = "done: the node serves from its new volume"
    if cur.lost_objects:
        message += f"; {cur.lost_objects} objects were lost with the old one (one copy)"
    record = cur.model_copy(update={"stage": ReplaceStage.DONE, "message": message})
    return Decision(record, event=("Replaced", f"{f.name}: replacement {message}", False))
