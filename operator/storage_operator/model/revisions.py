"""The revision of a node pod: a short, stable hash of what the pod is made of (pure).

What a pod is made of is its ``spec`` (image, command and arguments, environment, resources, probes, volumes,
placement, security) and the labels and annotations the cluster's spec gives it. Left out: the object's identity
(name, namespace, owner references, uid) and what follows from other fields or from the revision itself —
the ``ferry.dev/revision`` annotation and the ``app.kubernetes.io/version`` label (it is read from the image,
which is counted already). Keys are hashed in sorted order, so the same pod in another dict order has the
same revision; a changed image, resource, env var or argument gives another one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

ANNOTATION = "ferry.dev/revision"
IGNORED_LABELS = frozenset({"app.kubernetes.io/version"})
IGNORED_ANNOTATIONS = frozenset({ANNOTATION})
LENGTH = 10  # hex digits: collisions among a cluster's few revisions are not a concern


def made_of(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a pod manifest that decides its revision."""
    meta = pod.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in IGNORED_LABELS}
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in IGNORED_ANNOTATIONS}
    return {"spec": pod.get("spec") or {}, "labels": labels, "annotations": notes}


def digest(pod: Mapping[str, Any]) -> str:
    """The revision of a pod manifest: the first hex digits of the sha256 of :func:`made_of` in canonical JSON."""
    canonical = json.dumps(made_of(pod), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:LENGTH]


def of(pod: Mapping[str, Any] | None) -> str | None:
    """The revision an existing pod was built at (its annotation); None without a pod, "" for an unmarked one."""
    if pod is None:
        return None
    return str(((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION, ""))
