"""Reads the Secrets, ConfigMaps and pod fields that env vars and volumes refer to."""

from __future__ import annotations

import base64

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret


class ConfigError(Exception):
    """A container cannot be configured yet (missing Secret/ConfigMap/key); retried until it can."""


async def secret_data(client: AsyncClient, namespace: str, name: str) -> dict[str, bytes] | None:
    """The decoded data of Secret ``name``, or None when it does not exist."""
    try:
        obj = await client.get(Secret, name, namespace=namespace)
    except ApiError as e:
        if e.status.code == 404:
            return None
        raise
    return {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}


async def configmap_data(client: AsyncClient, namespace: str, name: str) -> dict[str, bytes] | None:
    """The data and binaryData of ConfigMap ``name`` as bytes, or None when it does not exist."""
    try:
        obj = await client.get(ConfigMap, name, namespace=namespace)
    except ApiError as e:
        if e.status.code == 404:
            return None
        raise
    out = {k: v.encode() for k, v in (obj.data or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.binaryData or {}).items()})
    return out


async def source_data(
    client: AsyncClient, namespace: str, kind: str, name: str | None, optional: bool | None
) -> dict[str, bytes]:
    """The data of a Secret or ConfigMap; an absent optional one is empty, an absent required one fails."""
    if not name:
        raise ConfigError(f"a {kind} reference has no name")
    getter = secret_data if kind == "secret" else configmap_data
    data = await getter(client, namespace, name)
    if data is None:
        if optional:
            return {}
        raise ConfigError(f'{kind} "{name}" not found')
    return data


def field(pod: Pod, path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API ``fieldPath`` for ``pod``."""
    meta = pod.metadata
    spec = pod.spec
    assert meta is not None and spec is not None
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": spec.nodeName,
        "spec.serviceAccountName": spec.serviceAccountName,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return simple[path] or ""
    for prefix, mapping in (("metadata.labels", meta.labels), ("metadata.annotations", meta.annotations)):
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted((mapping or {}).items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((mapping or {}).get(path[len(prefix) + 2 : -2], ""))
    raise ConfigError(f"unsupported fieldPath {path!r}")
