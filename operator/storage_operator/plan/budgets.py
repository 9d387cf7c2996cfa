"""How many node pods the PodDisruptionBudget keeps: one voluntary disruption while quiet, none in a change (pure).

The rule (:func:`min_available`), with N the number of node pods meant to run (``Pass.pods_wanted``):

- quiet (no rebalance running, no membership change in progress or asked for): ``minAvailable: N-1``, so the
  Eviction API (``kubectl drain``) may take one Ready node pod at a time, and none while one is missing or not
  Ready (the PDB counts Ready pods); an evicted pod comes back on its volume like a restart;
- changing: ``minAvailable: N``, so no eviction is permitted while data moves or a node joins or leaves.

This is ``maxUnavailable: 1`` / ``maxUnavailable: 0`` written the one way Kubernetes honours for pods that no
scalable workload owns (a node pod's owner is its StorageNode): an integer ``minAvailable``.

Order: a pass keeps the budget after tracking the rebalance and before it starts a change, and a change that
is only asked for already counts, so the budget is tightened before any rebalance starts; the API server
refuses evictions until the disruption controller has seen the new budget. Loosening waits for the next pass.
The operator's own pod deletions (shutdown, decommission) are not evictions: the budget never holds them up.
The manifest is ``resources.disruption_budgets``; ``steps.budgets`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from storage_operator.model.bodies import name_of
from storage_operator.plan import lifecycle, rollouts
from storage_operator.plan.lifecycle import Action
from storage_operator.plan.passes import Pass


def changing(p: Pass) -> bool:
    """Whether the cluster is changing: data moves, a node is rolled, or a membership change is asked for.

    A departure held back for want of room (`Pass.short_of_room`) is not a change until it fits: it may wait long.
    """
    if p.status.running is not None or p.status.transition is not None or p.status.rollout is not None:
        return True
    if p.rollout_decision().act is rollouts.Act.START:
        return True  # a node is about to be rolled in this pass: the budget closes first
    waiting = p.short_of_room()
    return any(
        name_of(n) not in waiting and lifecycle.next_step(p.view(n)).action is not Action.NOTHING for n in p.nodes
    )


def min_available(p: Pass, pods_wanted: Mapping[str, bool]) -> int:
    """How many node pods must stay available: all of them while the cluster changes, all but one when quiet."""
    wanted = sum(pods_wanted.values())
    return wanted if changing(p) else max(wanted - 1, 0)
