"""The StorageCluster and StorageNode specs as frozen values, parsed once from a body (pure).

The defaults are the CRDs' (``crds/*.yaml``: the API server fills them in before the operator sees a body) and
are written here once more, for bodies that lack them (a test's, or an object stored before a default was
added); ``tests/unit/operator/test_spec_defaults.py`` checks that both say the same. The few defaults the CRDs
do not have (``PYTHON_ONLY``) live here too, and nowhere else.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from storage_operator.model.camel import CamelModel
from storage_operator.model.states import ClusterState, NodeState, UpgradeStrategy

#: Requests of a node pod whose cluster sets no resources (or empty ones): enough to schedule it honestly (not
#: BestEffort).
DEFAULT_RESOURCES: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "256Mi"}}


class StorageSpec(CamelModel):
    """`spec.storage`: each node's volume claim and the mountpaths on it."""

    size: str = "1Gi"
    storage_class_name: str | None = None  # None or "": the cluster's default StorageClass
    mountpaths: int = 2


class AuthSpec(CamelModel):
    """`spec.auth`: whether the nodes' admin endpoints need a signed token, and the Secret with the key."""

    enabled: bool = True
    secret_name: str | None = None  # None or "": <cluster>-auth (resources.secrets)


class RebalanceSpec(CamelModel):
    """`spec.rebalance`: whether membership changes migrate data, and the throttle the nodes take while running."""

    enabled: bool = True
    concurrency: int = 4
    bandwidth: int = 0  # bytes per second per node; 0: unlimited


class CapacitySpec(CamelModel):
    """`spec.capacity`: the free-space check before nodes leave."""

    headroom_percent: int = 10


class RedundancySpec(CamelModel):
    """`spec.redundancy`: copies of each object on distinct nodes, and the grace before a lost node is given up."""

    copies: int = 1
    loss_grace_seconds: int = 600


class UpgradeSpec(CamelModel):
    """`spec.upgrade`: how a change of the node pods rolls through the nodes."""

    strategy: UpgradeStrategy = UpgradeStrategy.DRAIN
    paused: bool = False
    ready_timeout_seconds: int = 300


class ClusterSpec(CamelModel):
    """A StorageCluster's spec: the node pods, their volumes, auth, rebalance, capacity, state and upgrades."""

    image: str = "ferry:dev"
    image_pull_policy: str = "IfNotPresent"
    port: int = 8080
    # passed through to the node pods as they are (the API server checks the big Kubernetes structs)
    resources: dict[str, Any] = Field(default_factory=lambda: copy.deepcopy(DEFAULT_RESOURCES))
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = None  # None: the default spread; []: none
    priority_class_name: str | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    pod_labels: dict[str, str] | None = None
    pod_annotations: dict[str, str] | None = None
    env: list[dict[str, Any]] = Field(default_factory=list)
    # the cluster's own settings
    storage: StorageSpec = Field(default_factory=StorageSpec)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    rebalance: RebalanceSpec = Field(default_factory=RebalanceSpec)
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)
    redundancy: RedundancySpec = Field(default_factory=RedundancySpec)
    state: ClusterState = ClusterState.ONLINE
    rm_user_data: bool = False
    upgrade: UpgradeSpec = Field(default_factory=UpgradeSpec)

    @field_validator("resources", mode="before")
    @classmethod
    def _default_resources(cls, value: Any) -> Any:
        """Unset or empty resources: the default requests (as the CRD's description says)."""
        return value or copy.deepcopy(DEFAULT_RESOURCES)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ClusterSpec:
        """The spec of a StorageCluster body (defaults where a field is absent)."""
        return cls.model_validate(dict(body.get("spec") or {}))


class ReplaceSpec(CamelModel):
    """`spec.replace`: discard the node's volume for a new empty one, same identity (a new `request` asks again)."""

    request: str = Field(min_length=1, max_length=63)
    confirm: str | None = None  # the node's name: needed while the node still answers


class NodeSpec(CamelModel):
    """A StorageNode's spec: its cluster, the state a user asks for and the options of its transitions."""

    cluster: str
    state: NodeState = NodeState.ONLINE
    rm_user_data: bool = False
    skip_rebalance: bool = False
    skip_capacity_check: bool = False
    force_remove: bool = False
    replace: ReplaceSpec | None = None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> NodeSpec:
        """The spec of a StorageNode body (defaults where a field is absent)."""
        return cls.model_validate(dict(body.get("spec") or {}))


#: Defaults the CRDs do not have, by the field's path in the spec (they are Python's alone, and stay here).
PYTHON_ONLY: dict[tuple[str, ...], Any] = {
    ("spec", "resources"): DEFAULT_RESOURCES,  # the CRD says so in words: "unset or empty"
    ("spec", "env"): [],
}
