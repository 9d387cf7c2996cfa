"""One reconcile pass as values (pure): what it observed, frozen, and the outcome each of its steps returns.

A pass observes once (``Pass``); each step is a function of that ``Pass`` returning an ``Outcome``: the new
cluster status, the nodes' states reached, fresher node reports, how soon to look again. ``Pass.after`` folds an
outcome into the next ``Pass``; nothing is set on a shared object for someone else to read. The time is read
from the clock the pass was observed with (``Pass.clock``), never from the machine directly, so a test fixes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum

from storage_node.schemas import NodeEntry, NodeFlag
from storage_node.schemas import NodeStatus as Report

from storage_operator.model import clock, maps, revisions, statuses
from storage_operator.model.bodies import Body, is_deleted, name_of, namespace_of, pod_ready, ready_since
from storage_operator.model.clock import SYSTEM, Clock
from storage_operator.model.specs import ClusterSpec, NodeSpec
from storage_operator.model.states import NodeState
from storage_operator.model.statuses import ClusterStatus
from storage_operator.plan import capacity, lifecycle, replacing, rollouts
from storage_operator.resources import pods

SERVING = (NodeState.ONLINE, NodeState.MAINTENANCE)


class Pace(IntEnum):
    """How soon the next pass must come; the most urgent of a pass's outcomes wins."""

    IDLE = 0  # nothing in progress
    BUSY = 1  # something is in progress; a running rebalance announces its own end (watching)
    HURRY = 2  # something is in progress that nobody announces (pods starting, maps to retry): look soon


@dataclass(frozen=True)
class Outcome:
    """What one step did: the cluster status after it, node states reached, fresher reports, the pace."""

    status: ClusterStatus | None = None  # None: unchanged
    pace: Pace = Pace.IDLE
    reached: Mapping[str, NodeState] = field(default_factory=dict)  # effective states reached, by node
    reports: Mapping[str, Report] = field(default_factory=dict)  # node reports read again (after a map push)
    api_status: statuses.Raw | None = None  # the cluster status the API holds now, when the step wrote it

    def then(self, later: Outcome) -> Outcome:
        """This outcome followed by `later` (later values win; the pace is the most urgent)."""
        return Outcome(
            status=later.status if later.status is not None else self.status,
            pace=max(self.pace, later.pace),
            reached={**self.reached, **later.reached},
            reports={**self.reports, **later.reports},
            api_status=later.api_status if later.api_status is not None else self.api_status,
        )


@dataclass(frozen=True)
class Pass:
    """What one pass observed (API objects, node reports) and the status its steps have reached so far."""

    cluster: Body
    nodes: tuple[Body, ...]
    pods: Mapping[str, Body]
    pvcs: Mapping[str, Body]
    reports: Mapping[str, Report]  # node name -> what the node answered (its pod is ready)
    status: ClusterStatus
    api_status: statuses.Raw  # the cluster's status as the API holds it (what a write compares with)
    node_statuses: Mapping[str, statuses.NodeStatus]  # the StorageNodes' statuses as observed
    spec: ClusterSpec  # the cluster's spec, parsed once
    node_specs: Mapping[str, NodeSpec]  # the StorageNodes' specs, parsed once, by node name
    budget: Body | None = None  # the node pods' PodDisruptionBudget as observed (None: there is none)
    client_service: Body | None = None  # the Service named like the cluster, as observed (None: there is none)
    reached: Mapping[str, NodeState] = field(default_factory=dict)  # effective states reached in this pass
    pace: Pace = Pace.IDLE
    clock: Clock = field(default=SYSTEM, compare=False, repr=False)  # where the pass and its steps read the time

    @classmethod
    def observed(
        cls,
        cluster: Body,
        nodes: list[Body],
        pods: dict[str, Body],
        pvcs: dict[str, Body],
        reports: dict[str, Report],
        budget: Body | None = None,
        spec: ClusterSpec | None = None,
        clock: Clock = SYSTEM,
        client_service: Body | None = None,
    ) -> Pass:
        """The pass's start: the objects as listed, their specs and statuses read from them (`spec`: read already).

        `clock` is where the pass and its steps read the time from.
        """
        api_status = dict(cluster.get("status") or {})
        return cls(
            cluster=cluster,
            nodes=tuple(nodes),
            pods=pods,
            pvcs=pvcs,
            reports=reports,
            status=ClusterStatus.from_status(api_status),
            api_status=api_status,
            node_statuses={name_of(n): statuses.NodeStatus.from_status(n.get("status")) for n in nodes},
            spec=spec if spec is not None else ClusterSpec.of(cluster),
            node_specs={name_of(n): NodeSpec.of(n) for n in nodes},
            budget=budget,
            client_service=client_service,
            clock=clock,
        )

    def after(self, outcome: Outcome) -> Pass:
        """The pass as it stands once `outcome` happened."""
        return replace(
            self,
            status=outcome.status if outcome.status is not None else self.status,
            pace=max(self.pace, outcome.pace),
            reached={**self.reached, **outcome.reached},
            reports={**self.reports, **outcome.reports},
            api_status=outcome.api_status if outcome.api_status is not None else self.api_status,
        )

    @property
    def namespace(self) -> str:
        """The cluster's namespace."""
        return namespace_of(self.cluster)

    @property
    def name(self) -> str:
        """The cluster's name."""
        return name_of(self.cluster)

    @property
    def generation(self) -> int:
        """The cluster's generation (what its status observed)."""
        return int(self.cluster["metadata"].get("generation", 0))

    def url(self, node: str) -> str | None:
        """The node's address from its ready pod."""
        pod = self.pods.get(node)
        if pod is None or not pod_ready(pod):
            return None
        return f"http://{pod['status']['podIP']}:{self.spec.port}"

    def member_urls(self) -> dict[str, str]:
        """The addresses of the map's members whose pods are ready."""
        if self.status.map is None:
            return {}
        return {n: u for n in self.status.map.nodes if (u := self.url(n))}

    def desired(self, node: Body) -> NodeState:
        """What the user asks for: spec.state, or decommissioned for a node being deleted (its finalizer drains it)."""
        return NodeState.DECOMMISSIONED if is_deleted(node) else self.node_specs[name_of(node)].state

    def effective(self, node: Body) -> NodeState | None:
        """The state the node has reached (in this pass, else as its status says; None before it joined)."""
        n = name_of(node)
        return self.reached.get(n, self.node_statuses[n].state)

    def view(self, node: Body) -> lifecycle.NodeView:
        """The planner's view of one node in this pass."""
        n = name_of(node)
        spec, t = self.node_specs[n], self.status.transition
        return lifecycle.NodeView(
            desired=self.desired(node),
            effective=self.effective(node),
            flags=maps.flags_of(self.status.map, n, but=NodeFlag.lost),  # `steps.redundancy` keeps that one
            pod_ready=n in self.reports,
            rebalance_settled=self.status.running is None,
            cleaned=t is not None and t.node == n and t.cleaned,
            skip_rebalance=spec.skip_rebalance,
            force_remove=spec.force_remove,
            rebalance_enabled=self.rebalance_enabled,
        )

    @property
    def rebalance_enabled(self) -> bool:
        """Whether the cluster's spec lets state changes migrate data."""
        return self.spec.rebalance.enabled

    def is_turn(self, node: Body) -> bool:
        """Whether the node's transition is the one being carried out."""
        return self.status.transition is not None and self.status.transition.node == name_of(node)

    def pod_wanted(self, node: Body) -> bool:
        """Level-triggered pod policy: a pod runs while the node is (or is becoming) a serving member."""
        if not replacing.wants_pod(self.node_statuses[name_of(node)].replacement):
            return False  # its old volume is being removed (spec.replace)
        view = self.view(node)
        if lifecycle.is_done(view):
            return view.desired in SERVING
        if self.is_turn(node):
            return lifecycle.needs_pod(view) or view.desired in SERVING
        if view.effective in SERVING:
            return True  # waiting for its turn: it keeps serving as it is
        return view.effective is None and view.desired in SERVING

    def pods_wanted(self) -> dict[str, bool]:
        """Whether each node's pod is meant to run, by node (see :meth:`pod_wanted`)."""
        return {name_of(n): self.pod_wanted(n) for n in self.nodes}

    def fellow_joiners(self, head: str, step: lifecycle.Step) -> tuple[list[NodeEntry], bool]:
        """New nodes (never members) ready to join the same way as `head`, and whether others are still starting.

        The ready ones join in the same map version as `head`: one rebalance fills them all instead of one each;
        each then finishes its own transition in its turn (its entry is in place and the rebalance is over).
        """
        out, starting = [], False
        for node in self.nodes:
            n = name_of(node)
            view = self.view(node)
            if n == head or view.effective is not None or view.flags is not None:
                continue
            url = self.url(n)
            if url is not None and n in self.reports and lifecycle.next_step(view) == step:
                out.append(NodeEntry(id=n, url=url, flags=list(step.flags)))
            elif url is None and view.desired in SERVING and self.pod_wanted(node):
                starting = True
        return out, starting

    def leaving(self, node: Body) -> bool:
        """Whether the node's next step takes it out of placement: its data moves to the others."""
        view = self.view(node)
        step = lifecycle.next_step(view)
        return step.action is lifecycle.Action.PUBLISH and step.rebalance and bool(step.flags) and view.flags == ()

    def fellow_leavers(self, head: str) -> list[Body]:
        """Members asked to leave placement too (as `head`): they leave in the same map version, one rebalance.

        Each then finishes its own transition in its turn (its flags are in place and the rebalance is over).
        """
        return [n for n in self.nodes if name_of(n) != head and self.leaving(n)]

    def departure(self, leaving: list[Body]) -> capacity.Verdict:
        """Whether the data of `leaving` fits on the members that stay in placement (see `capacity`)."""
        if self.status.map is None or all(self.node_specs[name_of(n)].skip_capacity_check for n in leaving):
            return capacity.Verdict(True)
        gone = {name_of(n) for n in leaving}
        stay = [k for k, e in self.status.map.nodes.items() if not e.flags and k not in gone]
        out, kept = [self._space(name_of(n)) for n in leaving], [self._space(k) for k in stay]
        if any(s is None for s in [*out, *kept]):
            return capacity.Verdict(True)  # a node's figures are not known (yet): nothing to hold it back on
        headroom = float(self.spec.capacity.headroom_percent)
        return capacity.departure([s for s in out if s], [s for s in kept if s], headroom)

    def short_of_room(self) -> dict[str, str]:
        """The nodes asked to leave, if together they do not fit on the nodes that stay: why, by node name."""
        leaving = [n for n in self.nodes if self.leaving(n)]
        verdict = self.departure(leaving) if leaving else None
        if verdict is None or verdict.fits:
            return {}
        return {name_of(n): verdict.message for n in leaving}

    def _space(self, n: str) -> capacity.Space | None:
        report = self.reports.get(n)
        if report is None or report.capacity is None:
            return None
        c = report.capacity
        return capacity.Space(node=n, stored=report.bytes, capacity=c.capacity_bytes, free=c.free_bytes)

    def stalled_since(self, limit_seconds: float) -> str | None:
        """When the running rebalance last progressed, if that is longer ago than `limit_seconds`."""
        rb = self.status.running
        if rb is None:
            return None
        last = clock.parse(rb.last_progress_at)
        if last is not None and clock.seconds_since(last, self.clock.now()) > limit_seconds:
            return rb.last_progress_at
        return None

    def waiting_for(self) -> str:
        """What a queued membership change waits for."""
        if self.status.rollout is not None:
            return f"waiting for the rolling upgrade of {self.status.rollout.node} to finish"
        t = self.status.transition
        if t is None:
            return "waiting for the current membership change to finish"
        rid = self.status.rebalance.id if self.status.rebalance else None
        tail = f" (global rebalance {rid})" if rid else ""
        return f"waiting for {t.node}'s {t.operation} to finish{tail}"

    @property
    def target_revision(self) -> str:
        """The revision the cluster's spec asks node pods to be at."""
        return pods.pod_revision(self.cluster, self.spec)

    def rollout_members(self) -> dict[str, rollouts.Member]:
        """Every node as the rollout sees it: its pod's revision, whether it answers, its map flags."""
        at = self.clock.now()
        out = {}
        for node in self.nodes:
            n = name_of(node)
            pod = self.pods.get(n)
            born = clock.parse((pod or {}).get("metadata", {}).get("creationTimestamp")) if pod else None
            out[n] = rollouts.Member(
                name=n,
                online=self.effective(node) is NodeState.ONLINE and self.desired(node) is NodeState.ONLINE,
                revision=revisions.of(pod),
                deleting=pod is not None and is_deleted(pod),
                answering=n in self.reports and pod_ready(pod),
                age_s=clock.seconds_since(born, at) if born is not None else 0.0,
                ready_s=clock.seconds_since(up, at) if (up := ready_since(pod)) is not None else 0.0,
                flags=maps.flags_of(self.status.map, n),
            )
        return out

    def rollout_decision(self) -> rollouts.Decision:
        """The rolling upgrade's next act as this pass stands (see ``rollouts.decide``)."""
        members = self.rollout_members()
        online = sum(1 for m in members.values() if m.online)
        busy = self.waiting_for() if self.status.transition is not None else ""
        return rollouts.decide(
            members,
            self.target_revision,
            self.status.rollout,
            self.spec.upgrade,
            busy=busy,
            rebalancing=self.status.running is not None,
            can_drain=self.rebalance_enabled and online > 1,
            quiet_s=self.quiet_seconds(),
            started_s=self.rollout_seconds(),
        )

    def rollout_seconds(self) -> float:
        """How long ago the node being rolled was recorded (infinite when none is, or its time is unreadable)."""
        record = self.status.rollout
        return _ago(record.started_at if record is not None else None, self.clock.now())

    def quiet_seconds(self) -> float:
        """How long ago the last global rebalance finished (infinite when none did or one runs)."""
        last = self.status.last_rebalance
        finished = last.finished_at if last is not None and self.status.running is None else None
        return _ago(finished, self.clock.now())


def _ago(ts: str | None, at: datetime) -> float:
    """Seconds from a recorded time to `at` (infinite when there is none or it is unreadable)."""
    then = clock.parse(ts)
    return float("inf") if then is None else clock.seconds_since(then, at)
