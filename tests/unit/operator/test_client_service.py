"""The client Service of a StorageCluster: one ClusterIP name for clients, kept by each pass, in the status."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from storage_operator.clients import events
from storage_operator.model.bodies import Body
from storage_operator.model.specs import ClusterSpec
from storage_operator.model.statuses import ClientService, ClusterStatus
from storage_operator.plan.passes import Pass
from storage_operator.reconciler import reconciling
from storage_operator.resources import meta, services
from storage_operator.steps import services as service_steps
from storage_operator.steps import statuses

from tests.unit.operator.fakes import FakeFleet, FakeKube, FixedClock

CLUSTER: Body = {
    "apiVersion": "ferry.dev/v1alpha1",
    "kind": "StorageCluster",
    "metadata": {"name": "c1", "namespace": "ns", "uid": "u-c1", "generation": 1},
    "spec": {"port": 9000},
}


def manifest() -> Body:
    return services.client_service(CLUSTER, ClusterSpec.of(CLUSTER))


def as_held(service: Body) -> Body:
    """The Service as the API server returns it: with the fields it fills in, defaults left out."""
    held = copy.deepcopy(service)
    spec = held["spec"]
    del spec["publishNotReadyAddresses"]  # false: omitted on read
    spec |= {"clusterIP": "10.96.0.17", "clusterIPs": ["10.96.0.17"], "sessionAffinity": "None"}
    spec["ports"] = [{**p, "protocol": "TCP"} for p in spec["ports"]]
    held["metadata"] |= {"uid": "u-svc", "resourceVersion": "7"}
    return held


def a_pass(service: Body | None, cluster: Body = CLUSTER) -> Pass:
    return Pass.observed(cluster, [], pods={}, pvcs={}, reports={}, clock=FixedClock(), client_service=service)


def keep(kube: FakeKube, service: Body | None) -> str | None:
    return asyncio.run(service_steps.keep(kube, a_pass(service)))


def test_the_client_service_is_a_cluster_ip_named_like_the_cluster_that_selects_every_node_pod() -> None:
    svc = manifest()
    assert (svc["apiVersion"], svc["kind"]) == ("v1", "Service")
    assert svc["metadata"]["name"] == "c1" and svc["metadata"]["namespace"] == "ns"
    assert svc["spec"]["type"] == "ClusterIP" and "clusterIP" not in svc["spec"], "not headless"
    assert svc["spec"]["publishNotReadyAddresses"] is False, "only Ready node pods serve"
    assert svc["spec"]["selector"] == meta.pod_selector("c1")
    assert meta.NODE_LABEL not in svc["spec"]["selector"], "every node of the cluster, not one"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 9000, "targetPort": 9000}]
    assert svc["metadata"]["labels"] == meta.labels("c1", None)
    (owner,) = svc["metadata"]["ownerReferences"]
    assert owner["kind"] == "StorageCluster" and owner["uid"] == "u-c1" and owner["controller"] is True


def test_a_missing_client_service_is_created() -> None:
    kube = FakeKube()
    assert keep(kube, None) is None
    assert kube.applied == [manifest()]


def test_a_client_service_as_the_manifest_says_is_left_alone() -> None:
    kube = FakeKube()
    assert keep(kube, as_held(manifest())) is None
    assert kube.calls == [], "fields the API server adds or leaves out do not cause a write"


@pytest.mark.parametrize(
    "drift",
    [
        {"selector": {"app": "other"}},
        {"ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]},
        {"ports": []},
        {"publishNotReadyAddresses": True},
        {"type": "NodePort"},
    ],
)
def test_a_client_service_that_drifted_is_applied_again(drift: dict[str, Any]) -> None:
    held = as_held(manifest())
    held["spec"] |= drift
    kube = FakeKube()
    assert keep(kube, held) is None
    assert kube.applied == [manifest()]


def test_a_service_of_that_name_the_cluster_does_not_own_is_left_as_it_is_and_said() -> None:
    # e.g. the headless Service of a StorageNode "c1"... named "c1-node": a node named so that it is "c1"
    theirs = as_held(manifest())
    theirs["metadata"]["ownerReferences"] = [{**theirs["metadata"]["ownerReferences"][0], "uid": "u-node"}]
    kube = FakeKube()
    why = keep(kube, theirs)
    assert why is not None and "Service c1" in why and "not owned" in why
    assert kube.calls == []


def test_a_refused_write_is_reported_back_instead_of_failing_the_step() -> None:
    kube = FakeKube(refusal='services "c1" is forbidden')
    assert keep(kube, None) == 'services "c1" is forbidden'


def a_fleet(key: str | None) -> FakeFleet:
    return FakeFleet(key=key)


def reconciler_pass(kube: FakeKube) -> float | None:
    async def one_pass() -> float | None:
        reconciler = reconciling.Reconciler(kube, wake=lambda: None, fleets=a_fleet, clock=FixedClock())
        try:
            return await reconciler.reconcile("ns", "c1")
        finally:
            await reconciler.close()

    return asyncio.run(one_pass())


def no_auth(cluster: Body) -> Body:
    return {**cluster, "spec": {**cluster["spec"], "auth": {"enabled": False}}}


def test_a_refused_client_service_is_a_warning_event_on_the_cluster_and_the_pass_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warned: list[tuple[str, str, str]] = []
    monkeypatch.setattr(events, "info", lambda *a, **kw: None)
    monkeypatch.setattr(events, "warn", lambda obj, **kw: warned.append((obj["kind"], kw["reason"], kw["message"])))
    kube = FakeKube(cluster=no_auth(CLUSTER), refusal="forbidden")
    assert reconciler_pass(kube) is not None
    assert ("StorageCluster", "ClientServiceRefused", "forbidden") in warned
    assert "Service" in {c.kind for c in kube.sent("apply")}
    assert any(kind == "StorageCluster" for kind, _, _ in kube.patches), "the pass went on to its report"


def test_an_online_pass_keeps_the_client_service_and_a_shutdown_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "info", lambda *a, **kw: None)
    kube = FakeKube(cluster=no_auth(CLUSTER))
    reconciler_pass(kube)
    assert [c.name for c in kube.sent("apply", "Service")] == ["c1"]
    down = no_auth(CLUSTER)
    down["spec"]["state"] = "shutdown"
    kube = FakeKube(cluster=down)
    reconciler_pass(kube)
    assert kube.sent("apply", "Service") == []


def reported(service: Body | None) -> dict[str, Any]:
    kube = FakeKube()
    asyncio.run(statuses.report(kube, a_pass(service), stall_seconds=60))
    ((_, _, status),) = [p for p in kube.patches if p[0] == "StorageCluster"]
    return status


def test_the_status_names_the_client_service_and_its_port_once_it_exists() -> None:
    assert reported(as_held(manifest()))["service"] == {"name": "c1", "port": 9000}
    assert reported(None).get("service") is None, "not created yet: not reported"
    theirs = as_held(manifest())
    theirs["metadata"]["ownerReferences"] = []
    assert reported(theirs).get("service") is None, "another object's Service is not the cluster's"


def test_the_status_field_round_trips() -> None:
    status = ClusterStatus(service=ClientService(name="c1", port=9000))
    assert status.to_status() == {"service": {"name": "c1", "port": 9000}}
    assert ClusterStatus.from_status(status.to_status()) == status
