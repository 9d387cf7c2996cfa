"""Kubernetes-style status conditions: build and merge them, keeping lastTransitionTime stable (pure)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storage_operator.model import states


@dataclass(frozen=True)
class Condition:
    """One condition as the operator computes it (without timestamps)."""

    type: states.ConditionType
    status: bool
    reason: states.Reason
    message: str


def merge(
    old: Iterable[Mapping[str, Any]], new: Iterable[Condition], *, generation: int, now: str
) -> list[dict[str, Any]]:
    """Render `new` as status conditions; lastTransitionTime only moves when a condition's status flips."""
    previous = {str(c.get("type")): c for c in old}
    merged: list[dict[str, Any]] = []
    for cond in new:
        status = "True" if cond.status else "False"
        before = previous.get(cond.type.value)
        changed = before is None or before.get("status") != status
        merged.append(
            {
                "type": cond.type.value,
                "status": status,
                "reason": cond.reason.value,
                "message": cond.message,
                "observedGeneration": generation,
                "lastTransitionTime": now if changed or before is None else before.get("lastTransitionTime", now),
            }
        )
    return merged
