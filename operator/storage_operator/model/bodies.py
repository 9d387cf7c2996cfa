"""Readers of the raw API objects a pass observes: names, deletion, owners, pod readiness and restarts (pure).

Specs and statuses are not read here: ``specs`` and ``statuses`` parse them once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage_operator.model import clock

Body = dict[str, Any]


def name_of(body: Mapping[str, Any]) -> str:
    """An object's name."""
    return str(body["metadata"]["name"])


def namespace_of(body: Mapping[str, Any]) -> str:
    """An object's namespace."""
    return str(body["metadata"]["namespace"])


def is_deleted(body: Mapping[str, Any]) -> bool:
    """Whether the object is being deleted."""
    return bool(body["metadata"].get("deletionTimestamp"))


def controlled_by(body: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether `owner` (by uid) is the object's controller, as its owner references say."""
    uid = owner["metadata"].get("uid")
    refs = body["metadata"].get("ownerReferences") or ()
    return uid is not None and any(r.get("controller") and r.get("uid") == uid for r in refs)


def pod_ready(pod: Mapping[str, Any] | None) -> bool:
    """Whether a pod runs, is Ready and has an IP (and is not being deleted)."""
    if pod is None or is_deleted(pod):
        return False
    st = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    return ready and bool(st.get("podIP"))


def ready_since(pod: Mapping[str, Any] | None) -> datetime | None:
    """When the pod last became Ready (None if it is not Ready)."""
    if pod is None or not pod_ready(pod):
        return None
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return clock.parse(c.get("lastTransitionTime"))
    return None


def restarts(pod: Mapping[str, Any]) -> int:
    """How often the pod's containers restarted."""
    return sum(int(c.get("restartCount", 0)) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def spec_changed_at(body: Mapping[str, Any]) -> datetime | None:
    """When someone last changed the object's spec (its managed fields' times; status writes aside)."""
    times = [
        clock.parse(entry.get("time"))
        for entry in body["metadata"].get("managedFields") or ()
        if entry.get("subresource") != "status" and "f:spec" in (entry.get("fieldsV1") or {})
    ]
    return max((t for t in times if t is not None), default=None)
