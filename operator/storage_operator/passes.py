"""What one reconcile pass observes of a StorageCluster and how it reads it (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage_node.schemas import ClusterMap, NodeEntry, NodeStatus

from storage_operator import lifecycle, maps
from storage_operator.kube import Body
from storage_operator.states import NodeState, RebalanceState

SERVING = (NodeState.ONLINE, NodeState.MAINTENANCE)


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """A timestamp as Kubernetes writes them."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(ts: str | None) -> datetime | None:
    """Read a timestamp written by :func:`iso`."""
    return None if not ts else datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def name_of(body: Mapping[str, Any]) -> str:
    """An object's name."""
    return str(body["metadata"]["name"])


def desired_state(node: Mapping[str, Any]) -> NodeState:
    """What the user asks for: spec.state, or decommissioned for a node being deleted (its finalizer drains it)."""
    if node["metadata"].get("deletionTimestamp"):
        return NodeState.DECOMMISSIONED
    return NodeState(node.get("spec", {}).get("state", NodeState.ONLINE))


def effective_state(node: Mapping[str, Any]) -> NodeState | None:
    """The state the node has reached (None before it first joined)."""
    raw = node.get("status", {}).get("state")
    return NodeState(raw) if raw else None


def pod_ready(pod: Mapping[str, Any] | None) -> bool:
    """Whether a pod runs, is Ready and has an IP (and is not being deleted)."""
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return False
    st = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    return ready and bool(st.get("podIP"))


def ready_since(pod: Mapping[str, Any] | None) -> datetime | None:
    """When the pod last became Ready (None if it is not Ready)."""
    if not pod_ready(pod):
        return None
    assert pod is not None
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return parse_time(c.get("lastTransitionTime"))
    return None


@dataclass
class Pass:
    """What one reconcile pass observed and decided (mutable while the pass runs)."""

    cluster: Body
    nodes: list[Body]
    pods: dict[str, Body]
    pvcs: dict[str, Body]
    smap: ClusterMap | None
    rebalance: dict[str, Any] | None
    last_rebalance: dict[str, Any] | None
    transition: dict[str, Any]
    reports: dict[str, NodeStatus] = field(default_factory=dict)
    active: bool = False  # something is in progress: the next pass comes soon
    hurry: bool = False  # ... and it is not only a running rebalance (whose end the nodes announce): sooner
    reached: set[str] = field(default_factory=set)  # nodes whose effective state changed (written by the report)

    @property
    def namespace(self) -> str:
        """The cluster's namespace."""
        return str(self.cluster["metadata"]["namespace"])

    @property
    def name(self) -> str:
        """The cluster's name."""
        return name_of(self.cluster)

    @property
    def spec(self) -> dict[str, Any]:
        """The cluster's spec."""
        return dict(self.cluster.get("spec") or {})

    def url(self, node: str) -> str | None:
        """The node's address from its ready pod."""
        pod = self.pods.get(node)
        if not pod_ready(pod):
            return None
        assert pod is not None
        return f"http://{pod['status']['podIP']}:{int(self.spec.get('port', 8080))}"

    def rebalance_settled(self) -> bool:
        """No global rebalance is running."""
        return self.rebalance is None or self.rebalance.get("state") != RebalanceState.RUNNING

    def view(self, node: Body) -> lifecycle.NodeView:
        """The planner's view of one node in this pass."""
        spec = node.get("spec", {})
        n = name_of(node)
        return lifecycle.NodeView(
            desired=desired_state(node),
            effective=effective_state(node),
            flags=maps.flags_of(self.smap, n),
            pod_ready=n in self.reports,
            rebalance_settled=self.rebalance_settled(),
            cleaned=bool(self.transition.get("node") == n and self.transition.get("cleaned")),
            skip_rebalance=bool(spec.get("skipRebalance")),
            force_remove=bool(spec.get("forceRemove")),
            rebalance_enabled=bool(self.spec.get("rebalance", {}).get("enabled", True)),
        )

    def pod_wanted(self, node: Body) -> bool:
        """Level-triggered pod policy: a pod runs while the node is (or is becoming) a serving member."""
        view = self.view(node)
        if lifecycle.is_done(view):
            return view.desired in SERVING
        if self.transition.get("node") == name_of(node):
            return lifecycle.needs_pod(view) or view.desired in SERVING
        if view.effective in SERVING:
            return True  # waiting for its turn: it keeps serving as it is
        return view.effective is None and view.desired in SERVING

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

    def stalled_since(self, limit_seconds: float) -> str | None:
        """When the running rebalance last progressed, if that is longer ago than `limit_seconds`."""
        rb = self.rebalance
        if rb is None or rb.get("state") != RebalanceState.RUNNING:
            return None
        last = parse_time(rb.get("lastProgressAt"))
        if last is not None and (now() - last).total_seconds() > limit_seconds:
            return str(rb.get("lastProgressAt"))
        return None

    def waiting_for(self) -> str:
        """What a queued membership change waits for."""
        t = self.transition
        if not t:
            return "waiting for the current membership change to finish"
        rid = self.rebalance.get("id") if self.rebalance else None
        tail = f" (global rebalance {rid})" if rid else ""
        return f"waiting for {t.get('node')}'s {t.get('operation')} to finish{tail}"
