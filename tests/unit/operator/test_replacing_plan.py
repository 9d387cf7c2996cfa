"""Replacing a node's volume, stage by stage: confirmation, cancellation, no way back once the volume goes."""

from __future__ import annotations

from dataclasses import replace

from storage_operator.model.specs import ReplaceSpec
from storage_operator.model.states import ReplaceStage
from storage_operator.model.statuses import Replacement
from storage_operator.plan import replacing
from storage_operator.plan.replacing import Facts

NOW = "2026-12-03T10:00:00Z"
DEAD = Facts(
    name="node-2",
    asked=ReplaceSpec(request="r1"),
    current=None,
    member=True,
    serving=True,
    answering=False,
    pod_exists=True,
    claim_uid="old",
    filled=False,
    rebalancing=False,
    copies=2,
    objects=412,
    now=NOW,
)


def _run(f: Facts) -> tuple[Facts, replacing.Decision]:
    d = replacing.decide(f)
    return replace(f, current=d.record or f.current), d


def test_a_dead_node_is_replaced_stage_by_stage_and_only_its_recorded_claim_is_deleted() -> None:
    f, d = _run(DEAD)
    assert d.record is not None and d.record.stage is ReplaceStage.REMOVING_POD and d.delete_pod
    assert d.record.claim_uid == "old" and d.record.lost_objects is None, "two copies: nothing lost"
    f, d = _run(f)
    assert d.record is None and d.delete_pod, "the pod is still there: deleted again, nothing else"
    f, d = _run(replace(f, pod_exists=False))
    assert d.record is not None and d.record.stage is ReplaceStage.REMOVING_VOLUME and d.delete_claim
    f, d = _run(f)
    assert d.delete_claim and d.record is None, "the old claim still terminates"
    f, d = _run(replace(f, claim_uid=None))
    assert d.record is not None and d.record.stage is ReplaceStage.STARTING and not d.delete_claim
    f, d = _run(replace(f, claim_uid="new"))  # the new claim is never deleted
    assert not d.delete_claim and d.record is None, "not answering yet"
    f, d = _run(replace(f, answering=True, pod_exists=True))
    assert d.record is not None and d.record.stage is ReplaceStage.REFILLING
    f, d = _run(replace(f, filled=True, rebalancing=True))
    assert d.record is None, "the refill's rebalance still runs"
    f, d = _run(replace(f, rebalancing=False))
    assert d.record is not None and d.record.stage is ReplaceStage.DONE and d.event is not None
    assert replacing.decide(f) == replacing.Decision(), "done: nothing more for the same request"


def test_a_node_that_answers_needs_its_name_repeated_and_nothing_changes_without_it() -> None:
    live = replace(DEAD, answering=True)
    f, d = _run(live)
    assert d.record is not None and d.record.stage is ReplaceStage.NEEDS_CONFIRMATION
    assert not d.delete_pod and not d.delete_claim and "confirm to node-2" in d.record.message
    assert replacing.wants_pod(d.record)
    assert replacing.decide(f) == replacing.Decision(), "asked again: the same record, no second event"
    f, d = _run(replace(f, asked=ReplaceSpec(request="r1", confirm="node-2")))
    assert d.record is not None and d.record.stage is ReplaceStage.REMOVING_POD and d.delete_pod


def test_one_copy_records_what_is_lost_and_a_non_member_is_refused() -> None:
    _, d = _run(replace(DEAD, copies=1))
    assert d.record is not None and d.record.lost_objects == 412 and "412 objects" in d.record.message
    assert d.event is not None and d.event[2], "a warning"
    _, d = _run(replace(DEAD, member=False))
    assert d.record is not None and d.record.stage is ReplaceStage.REFUSED and not d.delete_pod


def test_it_can_be_cancelled_until_the_volume_goes_and_not_after() -> None:
    f, _ = _run(DEAD)
    assert not replacing.wants_pod(f.current)
    _, d = _run(replace(f, asked=None))
    assert d.record is not None and d.record.stage is ReplaceStage.CANCELLED and not d.delete_claim
    assert replacing.wants_pod(d.record), "its pod comes back on the volume it had"
    f, _ = _run(replace(f, pod_exists=False))  # the volume goes now
    _, d = _run(replace(f, asked=None))
    assert d.record is None and d.delete_claim, "too late to cancel: it goes on"
    # a new request while the old one is under way: the old one finishes first
    _, d = _run(replace(f, asked=ReplaceSpec(request="r2")))
    assert d.record is None and d.delete_claim


def test_a_new_request_after_one_finished_starts_again() -> None:
    done = Replacement(request="r1", stage=ReplaceStage.DONE)
    assert replacing.decide(replace(DEAD, current=done)) == replacing.Decision()
    d = replacing.decide(replace(DEAD, current=done, asked=ReplaceSpec(request="r2")))
    assert d.record is not None and d.record.request == "r2" and d.record.stage is ReplaceStage.REMOVING_POD
