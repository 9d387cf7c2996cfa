"""The operator's kopf diff base yields exactly kopf's own essence of an object (it only skips copies)."""

from __future__ import annotations

from typing import Any, cast

import kopf
import pytest
from storage_operator.handlers.diffbase import LeanDiffBaseStorage

NODE: dict[str, Any] = {
    "apiVersion": "ferry.dev/v1alpha1",
    "kind": "StorageNode",
    "metadata": {
        "name": "node-1",
        "namespace": "ns",
        "uid": "u-1",
        "generation": 4,
        "resourceVersion": "991",
        "labels": {"team": "storage"},
        "annotations": {
            "note": "kept",
            "kopf.zalando.org/last-handled-configuration": '{"spec":{"cluster":"c1","state":"online"}}',
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
        "finalizers": ["ferry.dev/finalizer"],
        "managedFields": [{"manager": "ferry-operator", "fieldsV1": {"f:status": {}}}],
    },
    "spec": {"cluster": "c1", "state": "maintenance", "rmUserData": False},
    "status": {"state": "online", "phase": "Rebalancing", "conditions": [{"type": "Ready", "status": "False"}]},
}


@pytest.mark.parametrize("spec", [NODE["spec"], {"cluster": "c1"}, {}])
def test_lean_essence_equals_kopfs(spec: dict[str, Any]) -> None:
    body = kopf.Body(cast(kopf.RawBody, {**NODE, "spec": spec}))
    assert LeanDiffBaseStorage().build(body=body) == kopf.AnnotationsDiffBaseStorage().build(body=body)


def test_the_essence_ignores_status_changes_and_sees_spec_changes() -> None:
    storage = LeanDiffBaseStorage()
    base = storage.build(body=kopf.Body(cast(kopf.RawBody, NODE)))
    other_status = {**NODE, "status": {"state": "maintenance"}}
    assert storage.build(body=kopf.Body(cast(kopf.RawBody, other_status))) == base
    other_spec = {**NODE, "spec": {**NODE["spec"], "state": "online"}}
    assert storage.build(body=kopf.Body(cast(kopf.RawBody, other_spec))) != base
