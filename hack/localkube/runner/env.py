"""Builds a container's environment: the runner's base env, envFrom, env (valueFrom, $(VAR) expansion)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from lightkube import AsyncClient
from lightkube.models.core_v1 import Container
from lightkube.resources.core_v1 import Pod

from localkube import network, processes
from localkube.runner import refs

_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VAR = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def venv_bin() -> Path:
    """The bin dir of the project's virtualenv (the runner's own interpreter)."""
    return Path(sys.executable).parent


def base(pod_name: str, api_address: str, marker: str) -> dict[str, str]:
    """What every container starts with, like a real container plus the in-cluster API service vars."""
    port = str(network.API_PORT)
    env = {
        "PATH": f"{venv_bin()}:{_SYSTEM_PATH}",
        "HOME": os.environ.get("HOME", "/root"),
        "HOSTNAME": pod_name,
        "PYTHONUNBUFFERED": "1",
        "KUBERNETES_SERVICE_HOST": api_address,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{api_address}:{port}",
        processes.MARKER: marker,
    }
    for key in ("LANG", "LC_ALL", "TZ"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined vars are replaced, ``$$`` escapes, others stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, value)


async def build(
    client: AsyncClient, pod: Pod, container: Container, start: dict[str, str], pod_ip: str, host_ip: str
) -> dict[str, str]:
    """The container's full environment; raises :class:`refs.ConfigError` when a reference is missing."""
    assert pod.metadata is not None and pod.metadata.namespace is not None
    ns = pod.metadata.namespace
    env = dict(start)
    for src in container.envFrom or []:
        prefix = src.prefix or ""
        if src.configMapRef is not None:
            data = await refs.source_data(client, ns, "configmap", src.configMapRef.name, src.configMapRef.optional)
        elif src.secretRef is not None:
            data = await refs.source_data(client, ns, "secret", src.secretRef.name, src.secretRef.optional)
        else:
            continue
        env.update({prefix + k: v.decode(errors="replace") for k, v in data.items()})
    for var in container.env or []:
        if var.valueFrom is None:
            env[var.name] = expand(var.value or "", env)
            continue
        vf = var.valueFrom
        if vf.fieldRef is not None:
            env[var.name] = refs.field(pod, vf.fieldRef.fieldPath, pod_ip, host_ip)
        elif vf.secretKeyRef is not None or vf.configMapKeyRef is not None:
            ref = vf.secretKeyRef or vf.configMapKeyRef
            assert ref is not None
            kind = "secret" if vf.secretKeyRef is not None else "configmap"
            data = await refs.source_data(client, ns, kind, ref.name, ref.optional)
            if ref.key in data:
                env[var.name] = data[ref.key].decode(errors="replace")
            elif not ref.optional:
                raise refs.ConfigError(f"couldn't find key {ref.key} in {kind} {ns}/{ref.name}")
        elif vf.resourceFieldRef is not None:
            env[var.name] = _resource(container, vf.resourceFieldRef.resource)
    return env


def _resource(container: Container, resource: str) -> str:
    kind, _, name = resource.partition(".")
    res = container.resources
    table = (res.limits if kind == "limits" else res.requests) if res is not None else None
    if table and name in table:
        return str(table[name])
    return str(os.cpu_count() or 1) if name == "cpu" else "0"
