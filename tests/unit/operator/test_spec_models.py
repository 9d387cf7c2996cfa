"""The specs parsed once into models: what the builders make of them is what they made of the raw bodies.

``builder_manifests.json`` holds the pod (with its revision), claim, Service and Secret the builders made from
raw StorageCluster bodies before the specs were models (``SPECS`` below, one with a field of a newer CRD).
An unchanged pod revision matters beyond the manifest: a new revision would roll every node of every cluster
when the operator is upgraded. The recording changed once on purpose since: the pre-stop step (issue 19) added
to the pod, checked to be the only difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from storage_operator.model.specs import ClusterSpec, NodeSpec
from storage_operator.model.states import ClusterState, NodeState
from storage_operator.resources import claims, pods, secrets, services

BEFORE: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "builder_manifests.json").read_text())
NODE = {
    "apiVersion": "ferry.dev/v1alpha1",
    "kind": "StorageNode",
    "metadata": {"name": "n1", "namespace": "ns", "uid": "u-n"},
    "spec": {"cluster": "c1", "state": "online"},
}


def _cluster(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "StorageCluster",
        "metadata": {"name": "c1", "namespace": "ns", "uid": "u-c"},
        "spec": spec,
    }


@pytest.mark.parametrize("case", sorted(BEFORE))
def test_the_objects_built_from_a_parsed_spec_are_the_ones_built_from_the_raw_body(case: str) -> None:
    before = BEFORE[case]
    cluster = _cluster(before["spec"])
    spec = ClusterSpec.of(cluster)
    assert pods.revised_pod(cluster, spec, NODE) == before["pod"]
    assert pods.pod_revision(cluster, spec) == before["revision"]
    assert claims.node_pvc(cluster, spec, NODE) == before["pvc"]
    assert services.node_service(cluster, spec, NODE) == before["service"]
    assert secrets.auth_secret(cluster, spec, "k") == before["secret"]


def test_fields_of_a_newer_crd_are_ignored_and_camel_or_snake_names_both_read() -> None:
    spec = ClusterSpec.of(_cluster({"futureField": 1, "rmUserData": True, "upgrade": {"newKnob": "x"}}))
    assert spec.rm_user_data and spec == ClusterSpec(rm_user_data=True)
    node = NodeSpec.of({"spec": {"cluster": "c1", "skipRebalance": True, "futureField": {}}})
    assert node == NodeSpec(cluster="c1", skip_rebalance=True) and node.state is NodeState.ONLINE


def test_a_spec_is_a_frozen_value() -> None:
    spec = ClusterSpec.of(_cluster({"state": "shutdown"}))
    assert spec.state is ClusterState.SHUTDOWN
    with pytest.raises(pydantic.ValidationError):
        spec.state = ClusterState.ONLINE


def test_unset_or_empty_resources_are_the_default_requests_and_unset_spread_differs_from_none() -> None:
    assert ClusterSpec.of(_cluster({"resources": {}})).resources == ClusterSpec().resources
    assert ClusterSpec().topology_spread_constraints is None
    assert ClusterSpec.of(_cluster({"topologySpreadConstraints": []})).topology_spread_constraints == []
