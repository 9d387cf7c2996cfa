"""A whole pass with the shared fakes: a gone cluster ends its loop, a deleted one is let go, a new one is built."""

from __future__ import annotations

import asyncio

import pytest
from storage_operator.clients import events
from storage_operator.model.bodies import Body
from storage_operator.reconciler import reconciling
from storage_operator.resources import secrets

from tests.unit.operator.fakes import FakeFleet, FakeKube, FixedClock

KEY = "k" * 64


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes events are posted by kopf's running operator; here they go nowhere."""
    monkeypatch.setattr(events, "info", lambda *a, **kw: None)
    monkeypatch.setattr(events, "warn", lambda *a, **kw: None)


def cluster(**metadata: object) -> Body:
    meta = {"name": "c1", "namespace": "ns", "uid": "u-c1", "generation": 1, **metadata}
    return {"kind": "StorageCluster", "metadata": meta, "spec": {}}


def node(name: str) -> Body:
    meta = {"name": name, "namespace": "ns", "uid": f"u-{name}", "generation": 1, "finalizers": [reconciling.FINALIZER]}
    return {"kind": "StorageNode", "metadata": meta, "spec": {"cluster": "c1", "state": "online"}}


class Fleets:
    """The reconciler's maker of node clients: one FakeFleet per cluster key, each recorded."""

    def __init__(self) -> None:
        self.made: list[FakeFleet] = []

    def __call__(self, key: str | None) -> FakeFleet:
        self.made.append(FakeFleet(key=key))
        return self.made[-1]


def reconcile(kube: FakeKube, fleets: Fleets) -> float | None:
    async def one_pass() -> float | None:
        reconciler = reconciling.Reconciler(kube, wake=lambda: None, fleets=fleets, clock=FixedClock())
        try:
            return await reconciler.reconcile("ns", "c1")
        finally:
            await reconciler.close()

    return asyncio.run(one_pass())


def test_a_cluster_that_is_gone_ends_its_loop_and_nothing_is_written() -> None:
    kube, fleets = FakeKube(), Fleets()
    assert reconcile(kube, fleets) is None
    assert kube.calls == [] and fleets.made == []


def test_a_deleted_cluster_stops_its_pods_keeps_its_volumes_and_lets_go_of_its_finalizers() -> None:
    gone = cluster(deletionTimestamp="2026-01-01T00:00:00Z")
    kube = FakeKube(cluster=gone, nodes=[node("n1")], pods={"n1": {}}, pvcs={"n1": {}})
    assert reconcile(kube, Fleets()) == reconciling.IDLE_DELAY
    assert kube.deleted("Pod") == ["n1-pod"]
    assert kube.deleted("PersistentVolumeClaim") == [], "data goes only by decommission"
    assert [c.name for c in kube.sent("orphan")] == ["n1-data"] and not kube.sent("patch_status")
    released = [(c.kind, c.name) for c in kube.sent("remove_finalizer")]
    assert released == [("StorageNode", "n1"), ("StorageCluster", "c1")]


def test_a_new_cluster_gets_its_objects_asks_its_nodes_with_its_key_and_looks_again_soon() -> None:
    kube = FakeKube(cluster=cluster(), nodes=[node("n1")], secrets={("c1-auth", secrets.AUTH_KEY): KEY})
    fleets = Fleets()
    delay = reconcile(kube, fleets)
    assert delay == reconciling.ACTIVE_DELAY, "a pod is starting: nobody announces when it is ready"
    assert sorted(c.kind for c in kube.sent("create")) == ["PersistentVolumeClaim", "Pod", "Service"]
    assert [f.key for f in fleets.made] == [KEY] and fleets.made[0].closed
    assert {kind for kind, _, _ in kube.patches} == {"StorageCluster", "StorageNode"}
