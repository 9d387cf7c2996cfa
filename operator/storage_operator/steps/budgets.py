"""The disruption-budget step of a pass: write the node pods' PodDisruptionBudget that ``plan.budgets`` asks for."""

from __future__ import annotations

from collections.abc import Mapping

from storage_operator.clients.protocols import Kube
from storage_operator.model.bodies import Body
from storage_operator.plan import budgets
from storage_operator.plan.passes import Pass
from storage_operator.resources import disruption_budgets


def _differs(observed: Body | None, manifest: Body) -> bool:
    """Whether the observed budget lacks the manifest's spec (fields the API server adds are not compared)."""
    held = (observed or {}).get("spec") or {}
    return observed is None or any(held.get(k) != v for k, v in manifest["spec"].items())


async def keep(kube: Kube, p: Pass, pods_wanted: Mapping[str, bool]) -> str | None:
    """Write the budget the rule asks for, when the observed one differs (or there is none).

    Returns the API server's message if it refuses the write (e.g. RBAC without the right to): the pass goes
    on without a budget rather than stopping every lifecycle operation for it.
    """
    manifest = disruption_budgets.node_budget(p.cluster, budgets.min_available(p, pods_wanted))
    if not _differs(p.budget, manifest):
        return None
    return await kube.apply(manifest)
