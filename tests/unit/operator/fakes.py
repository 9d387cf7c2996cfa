"""The shared test doubles of the operator's two narrow clients and of its clock (one each).

``FakeKube`` is ``protocols.Kube``: it answers reads from what a test gives it and records every write, in
order, in ``calls``. ``FakeFleet`` is ``protocols.Fleet``: every node answers with the report a test gives it
and takes every map. ``FixedClock`` is ``model.clock.Clock``: the time stands where a test puts it. Each is
typed as its Protocol, so mypy checks that a fake offers every call the steps make.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from storage_node.schemas import ClusterMap, NodeStatus, RebalanceStage, RebalanceStatus, SettingsUpdate
from storage_operator.model.bodies import Body

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)  # what a FixedClock says unless told otherwise


@dataclass(frozen=True)
class Call:
    """One write the fake API server received: the Kube method, the object's kind and name, what was sent."""

    verb: str
    kind: str
    name: str
    body: Any = None


@dataclass
class FakeKube:
    """Stands in for the API server: reads answer from the objects given, writes are recorded in `calls`.

    `refusal` is what the API server answers to every apply (None: it accepts).
    """

    cluster: Body | None = None
    nodes: list[Body] = field(default_factory=list)
    pods: dict[str, Body] = field(default_factory=dict)
    pvcs: dict[str, Body] = field(default_factory=dict)
    budget: Body | None = None
    services: dict[str, Body] = field(default_factory=dict)  # by name
    secrets: dict[tuple[str, str], str] = field(default_factory=dict)  # (Secret, key) -> value
    refusal: str | None = None
    calls: list[Call] = field(default_factory=list)

    def sent(self, verb: str, kind: str | None = None) -> list[Call]:
        """The calls of one method (of one kind), in order."""
        return [c for c in self.calls if c.verb == verb and kind in (None, c.kind)]

    @property
    def patches(self) -> list[tuple[str, str, Body]]:
        """The status patches: (kind, name, status), in order."""
        return [(c.kind, c.name, c.body) for c in self.sent("patch_status")]

    @property
    def applied(self) -> list[Body]:
        """The manifests applied, in order."""
        return [c.body for c in self.sent("apply")]

    def deleted(self, kind: str) -> list[str]:
        """The names of the objects of `kind` deleted, in order."""
        return [c.name for c in self.sent("delete", kind)]

    async def get_cluster(self, namespace: str, name: str) -> Body | None:
        return self.cluster

    async def list_nodes(self, namespace: str, cluster: str) -> list[Body]:
        return list(self.nodes)

    async def list_pods(self, namespace: str, cluster: str) -> dict[str, Body]:
        return dict(self.pods)

    async def list_pvcs(self, namespace: str, cluster: str) -> dict[str, Body]:
        return dict(self.pvcs)

    async def create(self, manifest: Body) -> str | None:
        self.calls.append(Call("create", manifest["kind"], manifest["metadata"]["name"], manifest))
        return None

    async def get_budget(self, namespace: str, name: str) -> Body | None:
        return self.budget

    async def get_service(self, namespace: str, name: str) -> Body | None:
        return self.services.get(name)

    async def apply(self, manifest: Body) -> str | None:
        self.calls.append(Call("apply", manifest["kind"], manifest["metadata"]["name"], manifest))
        return self.refusal

    async def delete_pod(self, namespace: str, name: str) -> None:
        self.calls.append(Call("delete", "Pod", name))

    async def delete_pvc(self, namespace: str, name: str) -> None:
        self.calls.append(Call("delete", "PersistentVolumeClaim", name))

    async def orphan_pvc(self, namespace: str, name: str) -> None:
        self.calls.append(Call("orphan", "PersistentVolumeClaim", name))

    async def patch_node_status(self, namespace: str, name: str, status: Body) -> None:
        self.calls.append(Call("patch_status", "StorageNode", name, status))

    async def patch_cluster_status(self, namespace: str, name: str, status: Body) -> None:
        self.calls.append(Call("patch_status", "StorageCluster", name, status))

    async def remove_finalizer(self, kind: str, namespace: str, name: str, finalizer: str) -> None:
        self.calls.append(Call("remove_finalizer", kind, name, finalizer))

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.secrets.get((name, key))


@dataclass
class FakeFleet:
    """Stands in for the nodes: each answers with its report in `reports` (the others do not answer).

    Every map installs (its version is recorded in `installed`), every settings update and cleanup is recorded,
    and a long poll answers at once that the rebalance is over.
    """

    reports: Mapping[str, NodeStatus] = field(default_factory=dict)
    key: str | None = None
    installed: list[int] = field(default_factory=list)
    settings: list[SettingsUpdate] = field(default_factory=list)
    cleaned: list[tuple[str, bool]] = field(default_factory=list)  # (url, rm_user_data)
    closed: bool = False

    def fresh_for(self, key: str | None) -> bool:
        return key == self.key and not self.closed

    async def close(self) -> None:
        self.closed = True

    async def statuses(self, urls: Mapping[str, str]) -> dict[str, NodeStatus]:
        return {n: self.reports[n] for n in urls if n in self.reports}

    async def install_map(self, urls: Mapping[str, str], smap: ClusterMap) -> dict[str, str]:
        self.installed.append(smap.version)
        return {}

    async def update_settings(self, urls: Mapping[str, str], update: SettingsUpdate) -> dict[str, str]:
        self.settings.append(update)
        return {}

    async def settled(self, url: str, rid: str, *, wait: float) -> RebalanceStatus:
        return RebalanceStatus(id=rid, stage=RebalanceStage.done)

    async def cleanup(self, url: str, *, rm_user_data: bool) -> None:
        self.cleaned.append((url, rm_user_data))


@dataclass
class FixedClock:
    """A clock that stands still at `at` until a test moves it on."""

    at: datetime = NOW

    def now(self) -> datetime:
        return self.at

    def ago(self, seconds: float) -> datetime:
        """The time `seconds` before now."""
        return self.at - timedelta(seconds=seconds)
