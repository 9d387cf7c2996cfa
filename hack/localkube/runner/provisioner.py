"""The local-directory provisioner: a PV (a directory in the cluster's state dir) for each new PVC.

The directory outlives pods; it is removed (with its PV) when the claim is deleted and the PV is released.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim
from lightkube.types import on_error_retry

from localkube.cluster import PROVISIONER, STORAGE_CLASS

log = logging.getLogger("localkube.runner.provisioner")
_ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
_ANN_SELECTED = "volume.kubernetes.io/storage-provisioner"


def _ours(pvc: PersistentVolumeClaim) -> bool:
    ann = (pvc.metadata.annotations if pvc.metadata else None) or {}
    cls = pvc.spec.storageClassName if pvc.spec else None
    return cls == STORAGE_CLASS or ann.get(_ANN_SELECTED) == PROVISIONER


async def provision(client: AsyncClient, root: Path, pvc: PersistentVolumeClaim) -> None:
    """Create the PV pre-bound to ``pvc`` (idempotent)."""
    meta, spec = pvc.metadata, pvc.spec
    assert meta is not None and spec is not None
    name = f"pvc-{meta.uid}"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    requests = spec.resources.requests if spec.resources and spec.resources.requests else {}
    pv: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {_ANN_PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": str(requests.get("storage", "1Gi"))},
            "accessModes": spec.accessModes or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.storageClassName or STORAGE_CLASS,
            "volumeMode": spec.volumeMode or "Filesystem",
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.namespace,
                "name": meta.name,
                "uid": meta.uid,
            },
        },
    }
    try:
        await client.create(codecs.from_dict(pv))
        log.info("provisioned %s for %s/%s at %s", name, meta.namespace, meta.name, path)
    except ApiError as e:
        if e.status.code != 409:
            raise


async def reclaim(client: AsyncClient, root: Path, pv: PersistentVolume) -> None:
    """Remove a released PV's directory, then the PV."""
    assert pv.metadata is not None and pv.spec is not None
    path = Path(pv.spec.hostPath.path) if pv.spec.hostPath else None
    if path is not None and path.parent == root:
        shutil.rmtree(path, ignore_errors=True)
    try:
        await client.delete(PersistentVolume, pv.metadata.name or "")
        log.info("deleted %s and its directory %s", pv.metadata.name, path)
    except ApiError as e:
        if e.status.code != 404:
            raise


async def watch_claims(client: AsyncClient, root: Path) -> None:
    """Provision a PV for every pending claim of the local storage class."""
    while True:
        try:
            async for op, pvc in client.watch(PersistentVolumeClaim, namespace="*", on_error=on_error_retry):
                pending = pvc.status is None or pvc.status.phase in (None, "Pending")
                unbound = pvc.spec is not None and not pvc.spec.volumeName
                deleting = pvc.metadata is not None and pvc.metadata.deletionTimestamp is not None
                if op != "DELETED" and pending and unbound and not deleting and _ours(pvc):
                    await provision(client, root, pvc)
        except Exception as e:
            log.warning("claim watch failed (%s); retrying", e)
            await asyncio.sleep(1.0)


async def watch_volumes(client: AsyncClient, root: Path) -> None:
    """Reclaim (delete) released volumes this provisioner made."""
    while True:
        try:
            async for op, pv in client.watch(PersistentVolume, on_error=on_error_retry):
                ann = (pv.metadata.annotations if pv.metadata else None) or {}
                released = pv.status is not None and pv.status.phase in ("Released", "Failed")
                policy = pv.spec.persistentVolumeReclaimPolicy if pv.spec else None
                if op != "DELETED" and released and policy == "Delete" and ann.get(_ANN_PROVISIONED_BY) == PROVISIONER:
                    await reclaim(client, root, pv)
        except Exception as e:
            log.warning("volume watch failed (%s); retrying", e)
            await asyncio.sleep(1.0)
