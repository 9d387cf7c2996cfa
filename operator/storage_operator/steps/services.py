"""The client-Service step of a pass: create the cluster's client Service, re-apply it when its spec drifted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.clients.protocols import Kube
from storage_operator.model.bodies import Body, controlled_by
from storage_operator.plan.passes import Pass
from storage_operator.resources import services

# what the API server leaves out of a Service it holds when the value is the default
_DEFAULTS: dict[str, Any] = {"type": "ClusterIP", "publishNotReadyAddresses": False}


def _same_ports(held: Any, wanted: list[Mapping[str, Any]]) -> bool:
    """Whether the held ports are the manifest's (fields the API server adds, e.g. protocol, are not compared)."""
    if not isinstance(held, list) or len(held) != len(wanted):
        return False
    return all(all(h.get(k) == v for k, v in w.items()) for h, w in zip(held, wanted, strict=True))


def _differs(observed: Body, manifest: Body) -> bool:
    """Whether the observed Service lacks the manifest's spec: its type, selector and ports."""
    held = observed.get("spec") or {}
    for key, value in manifest["spec"].items():
        if key == "ports":
            if not _same_ports(held.get(key), value):
                return True
        elif held.get(key, _DEFAULTS.get(key)) != value:
            return True
    return False


async def keep(kube: Kube, p: Pass) -> str | None:
    """Create the client Service when it is missing, re-apply it when its spec differs from the manifest.

    Returns why it is not kept: the API server's message when it refuses the write (e.g. RBAC without the
    right to), or the name taken by a Service the StorageCluster does not own (another object's, e.g. a node's
    headless Service, which is left as it is). The pass goes on without a client Service either way.
    """
    manifest = services.client_service(p.cluster, p.spec)
    observed = p.client_service
    if observed is not None and not controlled_by(observed, p.cluster):
        name = manifest["metadata"]["name"]
        return f"Service {name} exists and is not owned by StorageCluster {p.name}: it is left as it is"
    if observed is not None and not _differs(observed, manifest):
        return None
    return await kube.apply(manifest)
