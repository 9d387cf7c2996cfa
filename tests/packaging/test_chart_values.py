"""Wrong values are rejected by the chart before anything reaches the cluster, with a message that says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Reject = Callable[..., str]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cluster.nodeStates": {"ferry-node-1": "paused"}}, "value must be one of 'online', 'maintenance'"),
        ({"cluster.state": "maintenance"}, "/cluster/state"),
        ({"cluster.storage.size": "lots"}, "/cluster/storage/size"),
        ({"cluster.rebalance.bandwidth": -1}, "/cluster/rebalance/bandwidth"),
        ({"cluster.rebalance.concurrency": 0}, "/cluster/rebalance/concurrency"),
        ({"cluster.auth.enabled": "yes"}, "/cluster/auth/enabled"),
        ({"cluster.nodeCount": "three"}, "/cluster/nodeCount"),
        ({"cluster.nodes": [{"name": "Node_1"}]}, "/cluster/nodes/0/name"),
        ({"cluster.nodes": [{"state": "online"}]}, "missing property 'name'"),
        ({"cluster.nodes": [{"name": "a", "stat": "online"}]}, "'stat' not allowed"),
        ({"cluster.name": "Objects!"}, "/cluster/name"),
        ({"image.repository": "nginx"}, "/image/repository"),
        ({"image.pullPolicy": "Sometimes"}, "/image/pullPolicy"),
        ({"operator.replicaz": 2}, "'replicaz' not allowed"),
        ({"operator.metricsPort": 8081}, "/operator/metricsPort"),
        ({"clustr": {"create": True}}, "'clustr' not allowed"),
        ({"operator.watchNamespaces": "storage"}, "/operator/watchNamespaces"),
        ({"operator.watchNamespaces": ["Storage_1"]}, "/operator/watchNamespaces/0"),
        ({"operator.watchNamespaces": [""]}, "/operator/watchNamespaces/0"),
        ({"operator.watchNamespaces": ["a", "a"]}, "/operator/watchNamespaces"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_schema_rejects_wrong_values_and_names_the_key(
    render_error: Reject, values: dict[str, Any], message: str
) -> None:
    error = render_error(values)
    assert "values don't meet the specifications of the schema" in error
    assert message in error


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (
            {"operator.replicas": 2, "operator.peering.enabled": False},
            (),
            "operator.replicas > 1 needs operator.peering.enabled=true",
        ),
        (
            {"operator.replicas": 2, "operator.watchNamespaces": ["storage-*"]},
            (),
            "operator.replicas > 1 needs exact names in operator.watchNamespaces",
        ),
        ({"cluster.create": True, "cluster.state": "decommissioned"}, (), "cannot be created decommissioned"),
        (
            {"cluster.create": True, "cluster.nodeStates": {"ferry-node-1": "decommissioned"}},
            (),
            'node "ferry-node-1": a StorageNode cannot be created decommissioned',
        ),
        (
            {"cluster.create": True, "cluster.nodeStates": {"node-9": "maintenance"}},
            ("--is-upgrade",),
            '"node-9" is not one of this release\'s nodes (ferry-node-1, ferry-node-2, ferry-node-3)',
        ),
        (
            {"cluster.create": True, "cluster.nodes": [{"name": "a"}, {"name": "a"}]},
            (),
            'node "a" is listed twice',
        ),
    ],
    ids=[
        "standalone-replicas",
        "replicas-with-patterns",
        "cluster-decommissioned",
        "node-decommissioned",
        "unknown-node",
        "duplicate",
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(
    render_error: Reject, values: dict[str, Any], extra: tuple[str, ...], message: str
) -> None:
    assert message in render_error(values, *extra)
