"""The node pods' PodDisruptionBudget manifest; how many pods it keeps is decided in ``plan.budgets`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.resources import meta


def budget_name(cluster: str) -> str:
    """The PodDisruptionBudget of the cluster's node pods."""
    return f"{cluster}-nodes"


def node_budget(cluster: Mapping[str, Any], min_available: int) -> dict[str, Any]:
    """The PodDisruptionBudget of the cluster's node pods (owned by the StorageCluster).

    An integer `minAvailable`, the one form Kubernetes honours for pods that no scalable workload owns.
    """
    cname = cluster["metadata"]["name"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.object_meta(budget_name(cname), cluster, cname, None),
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": meta.pod_selector(cname)}},
    }
