"""Prepares a pod's volumes as host directories (emptyDir, secret, configMap, projected, PVC, hostPath)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.core_v1 import Container, Volume
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, ServiceAccount

from localkube.runner import refs


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted at ``target`` inside a container's mount namespace."""

    source: Path
    target: str
    read_only: bool


async def prepare(client: AsyncClient, pod: Pod, pod_dir: Path, pod_ip: str, host_ip: str) -> dict[str, Path]:
    """Materialise every volume of ``pod``; returns volume name -> host path.

    Raises :class:`refs.ConfigError` while something is missing (an unbound PVC, an absent Secret).
    """
    assert pod.spec is not None
    out: dict[str, Path] = {}
    for vol in pod.spec.volumes or []:
        out[vol.name] = await _one(client, pod, vol, pod_dir / "volumes" / vol.name, pod_ip, host_ip)
    return out


async def _one(client: AsyncClient, pod: Pod, vol: Volume, d: Path, pod_ip: str, host_ip: str) -> Path:
    assert pod.metadata is not None and pod.metadata.namespace is not None
    ns = pod.metadata.namespace
    if vol.emptyDir is not None:
        d.mkdir(parents=True, exist_ok=True)
        return d
    if vol.hostPath is not None:
        p = Path(vol.hostPath.path)
        if vol.hostPath.type in (None, "", "DirectoryOrCreate"):
            p.mkdir(parents=True, exist_ok=True)
        elif not p.exists():
            raise refs.ConfigError(f"hostPath {p} does not exist")
        return p
    if vol.persistentVolumeClaim is not None:
        return await _claim(client, ns, vol.persistentVolumeClaim.claimName)
    files: dict[str, tuple[bytes, int]] = {}
    if vol.secret is not None:
        s = vol.secret
        data = await refs.source_data(client, ns, "secret", s.secretName, s.optional)
        _select(files, data, s.items, s.defaultMode, f"secret {s.secretName}", s.optional)
    elif vol.configMap is not None:
        c = vol.configMap
        data = await refs.source_data(client, ns, "configmap", c.name, c.optional)
        _select(files, data, c.items, c.defaultMode, f"configmap {c.name}", c.optional)
    elif vol.downwardAPI is not None:
        mode = vol.downwardAPI.defaultMode
        for item in vol.downwardAPI.items or []:
            if item.fieldRef is not None:
                value = refs.field(pod, item.fieldRef.fieldPath, pod_ip, host_ip).encode()
                files[item.path] = (value, item.mode or mode or 0o644)
    elif vol.projected is not None:
        await _projected(client, pod, vol, files, pod_ip, host_ip)
    else:
        raise refs.ConfigError(f"volume {vol.name!r} is of a type the localkube runner does not support")
    _write(d, files)
    return d


async def _claim(client: AsyncClient, ns: str, name: str) -> Path:
    try:
        pvc = await client.get(PersistentVolumeClaim, name, namespace=ns)
    except ApiError as e:
        if e.status.code == 404:
            raise refs.ConfigError(f'persistentvolumeclaim "{name}" not found') from e
        raise
    if pvc.status is None or pvc.status.phase != "Bound" or pvc.spec is None or not pvc.spec.volumeName:
        raise refs.ConfigError(f'persistentvolumeclaim "{name}" is not bound yet')
    pv = await client.get(PersistentVolume, pvc.spec.volumeName)
    spec = pv.spec
    path = (spec.hostPath.path if spec and spec.hostPath else None) or (
        spec.local.path if spec and spec.local else None
    )
    if not path:
        raise refs.ConfigError(f"persistentvolume {pvc.spec.volumeName} is neither hostPath nor local")
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def _select(
    files: dict[str, tuple[bytes, int]],
    data: Mapping[str, bytes],
    items: Sequence[Any] | None,
    default_mode: int | None,
    what: str,
    optional: bool | None,
) -> None:
    mode = default_mode if default_mode is not None else 0o644
    if not items:
        files.update({k: (v, mode) for k, v in data.items()})
        return
    for item in items:
        if item.key not in data:
            if optional:
                continue
            raise refs.ConfigError(f"couldn't find key {item.key} in {what}")
        files[item.path] = (data[item.key], item.mode if item.mode is not None else mode)


async def _projected(
    client: AsyncClient, pod: Pod, vol: Volume, files: dict[str, tuple[bytes, int]], pod_ip: str, host_ip: str
) -> None:
    assert vol.projected is not None and pod.metadata is not None and pod.spec is not None
    ns = pod.metadata.namespace or "default"
    mode = vol.projected.defaultMode
    for src in vol.projected.sources or []:
        if src.secret is not None:
            data = await refs.source_data(client, ns, "secret", src.secret.name, src.secret.optional)
            _select(files, data, src.secret.items, mode, f"secret {src.secret.name}", src.secret.optional)
        if src.configMap is not None:
            data = await refs.source_data(client, ns, "configmap", src.configMap.name, src.configMap.optional)
            _select(
                files,
                data,
                src.configMap.items,
                mode,
                f"configmap {src.configMap.name}",
                src.configMap.optional,
            )
        if src.downwardAPI is not None:
            for item in src.downwardAPI.items or []:
                if item.fieldRef is not None:
                    value = refs.field(pod, item.fieldRef.fieldPath, pod_ip, host_ip).encode()
                    files[item.path] = (value, item.mode or mode or 0o644)
        if src.serviceAccountToken is not None:
            t = src.serviceAccountToken
            token = await _token(client, pod, [t.audience] if t.audience else [], t.expirationSeconds or 3600)
            files[t.path] = (token.encode(), mode or 0o644)


async def _token(client: AsyncClient, pod: Pod, audiences: list[str], seconds: int) -> str:
    """A bound service-account token for the pod (TokenRequest API), as the kubelet requests it."""
    assert pod.metadata is not None and pod.spec is not None
    sa = pod.spec.serviceAccountName or "default"
    req = ServiceAccount.Token(
        metadata=ObjectMeta(name=sa, namespace=pod.metadata.namespace),
        spec=TokenRequestSpec(
            audiences=audiences,
            expirationSeconds=seconds,
            boundObjectRef=BoundObjectReference(
                kind="Pod", apiVersion="v1", name=pod.metadata.name, uid=pod.metadata.uid
            ),
        ),
    )
    try:
        resp = await client.create(req, name=sa, namespace=pod.metadata.namespace)
    except ApiError as e:
        raise refs.ConfigError(f"cannot get a token for serviceaccount {sa}: {e.status.message}") from e
    if resp.status is None:
        raise refs.ConfigError(f"empty token for serviceaccount {sa}")
    return str(resp.status.token)


def _write(d: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for rel, (data, mode) in files.items():
        p = d / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise refs.ConfigError(f"invalid volume item path {rel!r}")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)


def mounts(container: Container, volumes: Mapping[str, Path]) -> list[Mount]:
    """The bind mounts of ``container``, parents before children; raises ConfigError for unknown volumes."""
    out = []
    for vm in container.volumeMounts or []:
        if vm.name not in volumes:
            raise refs.ConfigError(f"volume mount {vm.name!r} refers to no volume of the pod")
        src = volumes[vm.name]
        if vm.subPath:
            src = src / vm.subPath
            if not src.exists():
                src.mkdir(parents=True)
        out.append(Mount(src, vm.mountPath, bool(vm.readOnly)))
    return sorted(out, key=lambda m: len(Path(m.target).parts))
