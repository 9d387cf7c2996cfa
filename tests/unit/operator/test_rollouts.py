"""Rolling upgrades: the pod revision, the rollout's decisions (next node, wait, stuck, paused, rollback), status."""

from __future__ import annotations

import copy
import json
from typing import Any

from storage_node.schemas import NodeFlag
from storage_operator.model import revisions, statuses
from storage_operator.model.specs import ClusterSpec, UpgradeSpec
from storage_operator.model.states import ConditionType, Reason, UpgradeStrategy
from storage_operator.model.statuses import ClusterStatus, Rollout
from storage_operator.plan import phases, rollouts
from storage_operator.plan.conditions import Condition
from storage_operator.plan.rollouts import Act, Member
from storage_operator.resources import pods

OLD, NEW = "aaaaaaaaaa", "bbbbbbbbbb"
OUT = (NodeFlag.maintenance,)


def _cluster(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageCluster",
        "metadata": {"name": "c1", "namespace": "ns", "uid": "u-c"},
        "spec": {"image": "ferry:dev", **spec},
    }


def _node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageNode",
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}"},
        "spec": {"cluster": "c1"},
    }


def _parsed(cluster: dict[str, Any]) -> tuple[dict[str, Any], ClusterSpec]:
    """A StorageCluster body and its spec, parsed as a pass parses it (what the builders take)."""
    return cluster, ClusterSpec.of(cluster)


# ---- the revision --------------------------------------------------------------------------------


def test_the_revision_is_stable_across_dict_order_and_short() -> None:
    pod = pods.node_pod(*_parsed(_cluster()), _node("n1"))
    shuffled = json.loads(json.dumps(pod, sort_keys=True))  # same content, other key order
    reversed_spec = dict(reversed(list(pod["spec"].items())))
    assert revisions.digest(pod) == revisions.digest(shuffled) == revisions.digest({**pod, "spec": reversed_spec})
    assert len(revisions.digest(pod)) == revisions.LENGTH
    assert pods.pod_revision(*_parsed(_cluster())) == pods.pod_revision(*_parsed(copy.deepcopy(_cluster())))


def test_image_resources_and_env_change_the_revision() -> None:
    base = pods.pod_revision(*_parsed(_cluster()))
    changed = [
        pods.pod_revision(*_parsed(_cluster(image="ferry:next"))),
        pods.pod_revision(*_parsed(_cluster(resources={"requests": {"cpu": "100m"}}))),
        pods.pod_revision(*_parsed(_cluster(resources={"requests": {"cpu": "200m"}}))),
        pods.pod_revision(*_parsed(_cluster(env=[{"name": "X", "value": "1"}]))),
        pods.pod_revision(*_parsed(_cluster(env=[{"name": "X", "value": "2"}]))),
        pods.pod_revision(*_parsed(_cluster(storage={"mountpaths": 3}))),
    ]
    assert len({base, *changed}) == 1 + len(changed)


def test_settings_pushed_to_running_nodes_and_the_version_label_do_not_change_it() -> None:
    base = pods.pod_revision(*_parsed(_cluster()))
    assert pods.pod_revision(*_parsed(_cluster(rebalance={"bandwidth": 1024, "concurrency": 9}))) == base
    pod = pods.node_pod(*_parsed(_cluster()), _node("n1"))
    labelled = copy.deepcopy(pod)
    labelled["metadata"]["labels"]["app.kubernetes.io/version"] = "9.9"
    assert revisions.digest(labelled) == revisions.digest(pod)
    labelled["metadata"]["labels"]["team"] = "storage"
    assert revisions.digest(labelled) != revisions.digest(pod), "a label the pod is given is part of it"


def test_every_node_pod_carries_the_clusters_revision() -> None:
    cluster = _cluster()
    revised = [pods.revised_pod(*_parsed(cluster), _node(n)) for n in ("n1", "n2")]
    assert {revisions.of(p) for p in revised} == {pods.pod_revision(*_parsed(cluster))}
    assert revisions.of(pods.node_pod(*_parsed(cluster), _node("n1"))) == "", "a pod without the mark"
    assert revisions.of(None) is None


# ---- the decision --------------------------------------------------------------------------------


def _members(revs: dict[str, str | None], **over: dict[str, Any]) -> dict[str, Member]:
    out = {}
    for n, r in revs.items():
        fields: dict[str, Any] = {"online": True, "revision": r, "answering": r is not None, "age_s": 100.0}
        fields["ready_s"] = 100.0 if r is not None else 0.0
        fields.update(over.get(n, {}))
        out[n] = Member(name=n, **fields)
    return out


def _record(node: str, strategy: UpgradeStrategy = UpgradeStrategy.DRAIN) -> Rollout:
    return Rollout(node=node, strategy=strategy, started_at="2026-01-01T00:00:00Z")


def test_nothing_to_do_when_every_online_node_is_at_the_target() -> None:
    d = rollouts.decide(_members({"a": NEW, "b": NEW}), NEW, None, UpgradeSpec())
    assert d.act is Act.NONE and not rollouts.rolling(d)


def test_the_first_stale_node_by_name_is_started_with_the_specs_strategy() -> None:
    d = rollouts.decide(_members({"c": OLD, "a": NEW, "b": OLD}), NEW, None, UpgradeSpec())
    assert (d.act, d.node, d.strategy) == (Act.START, "b", UpgradeStrategy.DRAIN)
    d = rollouts.decide(_members({"b": OLD}), NEW, None, UpgradeSpec(strategy=UpgradeStrategy.RESTART))
    assert d.strategy is UpgradeStrategy.RESTART


def test_drain_falls_back_to_restart_when_data_cannot_move() -> None:
    d = rollouts.decide(_members({"a": OLD}), NEW, None, UpgradeSpec(), can_drain=False)
    assert (d.act, d.strategy) == (Act.START, UpgradeStrategy.RESTART)


def test_it_waits_for_a_membership_change_a_rebalance_and_a_node_that_does_not_answer() -> None:
    m = _members({"a": OLD, "b": OLD})
    busy = rollouts.decide(m, NEW, None, UpgradeSpec(), busy="waiting for x's shutdown to finish")
    assert (busy.act, busy.why) == (Act.WAIT, "waiting for x's shutdown to finish")
    assert rollouts.decide(m, NEW, None, UpgradeSpec(), rebalancing=True).act is Act.WAIT
    silent = rollouts.decide(_members({"a": OLD, "b": NEW}, b={"answering": False}), NEW, None, UpgradeSpec())
    assert (silent.act, silent.why) == (Act.WAIT, "waiting for b to be ready")


def test_paused_starts_no_node_but_finishes_the_one_in_progress() -> None:
    m = _members({"a": NEW, "b": OLD})
    paused = UpgradeSpec(paused=True)
    assert rollouts.decide(m, NEW, None, paused).act is Act.PAUSED
    assert rollouts.decide(m, NEW, _record("a"), paused).act is Act.FINISH


def test_nodes_in_maintenance_or_shut_down_are_not_rolled() -> None:
    m = _members({"a": NEW, "b": OLD, "c": None}, b={"online": False}, c={"online": False})
    assert rollouts.decide(m, NEW, None, UpgradeSpec()).act is Act.NONE


def test_drain_walks_a_node_out_restarts_it_and_brings_it_back() -> None:
    rec = _record("a")
    s = UpgradeSpec()

    def step(**a: Any) -> Act:
        return rollouts.decide(_members({"a": a.pop("rev", OLD), "b": NEW}, a=a), NEW, rec, s).act

    assert step() is Act.LEAVE
    assert rollouts.decide(_members({"a": OLD}, a={"flags": OUT}), NEW, rec, s, rebalancing=True).act is (
        Act.AWAIT_REBALANCE
    )
    just_over = rollouts.decide(_members({"a": OLD, "b": NEW}, a={"flags": OUT}), NEW, rec, s, quiet_s=1.0)
    assert just_over.act is Act.GRACE, "clients and nodes catch up before its pod goes"
    assert step(flags=OUT) is Act.DELETE_POD, "the rebalance is over: the pod goes"
    assert step(flags=OUT, deleting=True) is Act.AWAIT_POD
    assert step(rev=None, flags=OUT) is Act.AWAIT_POD
    assert step(rev=NEW, flags=OUT, answering=False, age_s=5.0) is Act.AWAIT_POD
    assert step(rev=NEW, flags=OUT, ready_s=1.0) is Act.GRACE, "its new address reaches the others first"
    assert step(rev=NEW, flags=OUT) is Act.RETURN
    assert rollouts.decide(_members({"a": NEW}), NEW, rec, s, rebalancing=True).act is Act.AWAIT_REBALANCE
    assert step(rev=NEW) is Act.FINISH


def test_restart_deletes_the_pod_at_once_and_finishes_when_the_new_one_answers() -> None:
    rec, s = _record("a", UpgradeStrategy.RESTART), UpgradeSpec()
    assert rollouts.decide(_members({"a": OLD}), NEW, rec, s).act is Act.DELETE_POD
    assert rollouts.decide(_members({"a": NEW}, a={"answering": False, "age_s": 3}), NEW, rec, s).act is Act.AWAIT_POD
    assert rollouts.decide(_members({"a": NEW}), NEW, rec, s).act is Act.FINISH


def test_restart_waits_a_moment_after_marking_the_node_before_deleting_its_pod() -> None:
    rec, s = _record("a", UpgradeStrategy.RESTART), UpgradeSpec()
    assert rollouts.decide(_members({"a": OLD}), NEW, rec, s, started_s=0.5).act is Act.GRACE
    assert rollouts.decide(_members({"a": OLD}), NEW, rec, s, started_s=rollouts.RESTART_GRACE_S).act is Act.DELETE_POD
    gone = _members({"a": OLD}, a={"answering": False})
    assert rollouts.decide(gone, NEW, rec, s, started_s=0.5).act is Act.DELETE_POD, "a silent node: no one to spare"


def test_a_new_pod_not_ready_in_time_stops_the_rollout_there_and_a_rollback_recreates_it() -> None:
    rec, s = _record("b", UpgradeStrategy.RESTART), UpgradeSpec(ready_timeout_seconds=60)
    stuck = _members({"a": NEW, "b": NEW, "c": OLD}, b={"answering": False, "age_s": 61.0})
    d = rollouts.decide(stuck, NEW, rec, s)
    assert (d.act, d.node) == (Act.STUCK, "b") and "b" in d.why and "61s" in d.why
    # the spec set back: the target is the old revision again; the stuck pod is re-created at it
    back = rollouts.decide(stuck, OLD, rec, s)
    assert (back.act, back.node) == (Act.DELETE_POD, "b")
    recovered = _members({"a": NEW, "b": OLD, "c": OLD})
    assert rollouts.decide(recovered, OLD, rec, s).act is Act.FINISH
    # the node rolled before the rollback is rolled back in turn
    assert rollouts.decide(recovered, OLD, None, s).node == "a"


def test_a_drained_node_stuck_and_rolled_back_comes_back_into_placement() -> None:
    rec, s = _record("a"), UpgradeSpec(ready_timeout_seconds=60)
    stuck = _members({"a": NEW, "b": OLD}, a={"flags": OUT, "answering": False, "age_s": 90.0})
    assert rollouts.decide(stuck, NEW, rec, s).act is Act.STUCK
    assert rollouts.decide(stuck, OLD, rec, s).act is Act.DELETE_POD, "not ready: no rebalance to wait for"
    back = _members({"a": OLD, "b": OLD}, a={"flags": OUT})
    assert rollouts.decide(back, OLD, rec, s).act is Act.RETURN


def test_a_rolled_node_that_is_gone_is_finished() -> None:
    assert rollouts.decide(_members({"b": OLD}), NEW, _record("a"), UpgradeSpec()).act is Act.FINISH


def test_progress_counts_and_the_current_revision() -> None:
    m = _members({"a": NEW, "b": OLD, "c": OLD, "d": None})
    assert rollouts.updated(m, NEW) == 1
    assert rollouts.current_revision(m, NEW, None) == OLD
    assert rollouts.current_revision(m, NEW, OLD) == OLD
    assert rollouts.current_revision(_members({"a": NEW}), NEW, OLD) == NEW


def test_settings_from_the_spec_with_defaults() -> None:
    assert ClusterSpec.of({}).upgrade == UpgradeSpec(
        strategy=UpgradeStrategy.DRAIN, paused=False, ready_timeout_seconds=300
    )
    raw = {"spec": {"upgrade": {"strategy": "restart", "paused": True, "readyTimeoutSeconds": 30}}}
    assert ClusterSpec.of(raw).upgrade == UpgradeSpec(
        strategy=UpgradeStrategy.RESTART, paused=True, ready_timeout_seconds=30
    )


# ---- the status ----------------------------------------------------------------------------------


def test_the_rollout_status_round_trips() -> None:
    status = ClusterStatus(
        rollout=_record("node-2"), current_revision=OLD, update_revision=NEW, updated_nodes=1, phase="Upgrading"
    )
    raw = status.to_status()
    assert raw["rollout"] == {"node": "node-2", "strategy": "drain", "startedAt": "2026-01-01T00:00:00Z"}
    assert (raw["currentRevision"], raw["updateRevision"], raw["updatedNodes"]) == (OLD, NEW, 1)
    assert ClusterStatus.from_status(raw) == status
    assert "rollout" in statuses.RECORD_KEYS, "the node in progress is resumed after an operator restart"
    assert ClusterStatus.from_status({}).rollout is None


def _found() -> list[Condition]:
    return [
        Condition(ConditionType.READY, True, Reason.STATE_REACHED, "cluster is online"),
        Condition(ConditionType.PROGRESSING, False, Reason.IDLE, ""),
        Condition(ConditionType.DEGRADED, False, Reason.HEALTHY, ""),
    ]


def test_the_cluster_conditions_while_rolling_paused_and_stuck() -> None:
    def by_type(cs: list[Condition]) -> dict[str, tuple[bool, str]]:
        return {c.type.value: (c.status, c.reason.value) for c in cs}

    assert phases.with_rollout(_found(), message="", paused=False, stuck=False) == _found()
    rolling = by_type(phases.with_rollout(_found(), message="rolling a", paused=False, stuck=False))
    assert rolling == {
        "Ready": (False, "RollingUpdate"),
        "Progressing": (True, "RollingUpdate"),
        "Degraded": (False, "Healthy"),
    }
    paused = by_type(phases.with_rollout(_found(), message="paused", paused=True, stuck=False))
    assert paused["Progressing"] == (False, "RolloutPaused")
    stuck = phases.with_rollout(_found(), message="stopped at node-2", paused=False, stuck=True)
    assert by_type(stuck)["Degraded"] == (True, "RolloutStuck")
    assert [c.message for c in stuck if c.type is ConditionType.DEGRADED] == ["stopped at node-2"]
