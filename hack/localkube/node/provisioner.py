"""The node's volume provisioner: a ``local`` PersistentVolume (its own filesystem, pinned to the node) per claim.

``local`` volumes, unlike the built-in hostPath provisioner's root-only directories, honour a pod's fsGroup:
the kubelet makes the directory group-writable for it. Each volume is a tmpfs of the claim's requested size,
so a pod sees the capacity it asked for (``df``, ``statvfs``) and a full volume answers ENOSPC, as a real disk
of that size would; only what is written takes memory. The filesystem and its directory go with the PV when
the claim does (and with ``localkube down``, which unmounts everything under the state dir).
Run: ``python -m localkube.node.provisioner --kubeconfig K --root DIR --node NAME``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, KubeConfig, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim
from lightkube.types import on_error_retry
from lightkube.utils.quantity import parse_quantity

STORAGE_CLASS = "ferry-local"
PROVISIONER = "ferry.dev/local-dir"
_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
_SELECTED = "volume.kubernetes.io/storage-provisioner"
log = logging.getLogger("localkube.node.provisioner")


def _ours(pvc: PersistentVolumeClaim) -> bool:
    ann = (pvc.metadata.annotations if pvc.metadata else None) or {}
    cls = pvc.spec.storageClassName if pvc.spec else None
    return cls == STORAGE_CLASS or ann.get(_SELECTED) == PROVISIONER


def volume(pvc: PersistentVolumeClaim, path: Path, node: str) -> dict[str, Any]:
    """The PV for ``pvc``: a ``local`` volume at ``path`` on ``node``, pre-bound to the claim (pure)."""
    meta, spec = pvc.metadata, pvc.spec
    assert meta is not None and spec is not None
    requests = spec.resources.requests if spec.resources and spec.resources.requests else {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta.uid}", "annotations": {_PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": str(requests.get("storage", "1Gi"))},
            "accessModes": spec.accessModes or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.storageClassName or STORAGE_CLASS,
            "volumeMode": "Filesystem",
            "local": {"path": str(path)},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                    ]
                }
            },
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.namespace,
                "name": meta.name,
                "uid": meta.uid,
            },
        },
    }


def size_of(pvc: PersistentVolumeClaim) -> int:
    """The claim's requested storage in bytes (1 GiB when it asks for none)."""
    requests = pvc.spec.resources.requests if pvc.spec and pvc.spec.resources and pvc.spec.resources.requests else {}
    return int(parse_quantity(str(requests.get("storage", "1Gi"))) or 0) or 1 << 30


def _mount(path: Path, size: int) -> None:
    """A filesystem of `size` bytes at `path` (unless one is there already: the provisioner restarted)."""
    if path.is_mount():
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "ferry-pv", str(path)], check=True)


def _unmount(path: Path) -> None:
    if path.is_mount():
        subprocess.run(["umount", "-l", str(path)], check=False)


async def _provision(client: AsyncClient, root: Path, node: str, pvc: PersistentVolumeClaim) -> None:
    assert pvc.metadata is not None
    path = root / f"pvc-{pvc.metadata.uid}"
    path.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_mount, path, size_of(pvc))
    try:
        await client.create(codecs.from_dict(volume(pvc, path, node)))
        log.info("provisioned %s for %s/%s", path.name, pvc.metadata.namespace, pvc.metadata.name)
    except ApiError as e:
        if e.status.code != 409:
            raise


async def _reclaim(client: AsyncClient, root: Path, pv: PersistentVolume) -> None:
    assert pv.metadata is not None and pv.spec is not None
    path = Path(pv.spec.local.path) if pv.spec.local else None
    if path is not None and path.parent == root:
        await asyncio.to_thread(_unmount, path)
        shutil.rmtree(path, ignore_errors=True)
    try:
        await client.delete(PersistentVolume, pv.metadata.name or "")
        log.info("deleted %s and its directory", pv.metadata.name)
    except ApiError as e:
        if e.status.code != 404:
            raise


async def watch_claims(client: AsyncClient, root: Path, node: str) -> None:
    """Provision a PV for every pending claim of the local storage class."""
    while True:
        try:
            async for op, pvc in client.watch(PersistentVolumeClaim, namespace="*", on_error=on_error_retry):
                pending = pvc.status is None or pvc.status.phase in (None, "Pending")
                unbound = pvc.spec is not None and not pvc.spec.volumeName
                deleting = pvc.metadata is not None and pvc.metadata.deletionTimestamp is not None
                if op != "DELETED" and pending and unbound and not deleting and _ours(pvc):
                    await _provision(client, root, node, pvc)
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
                if op != "DELETED" and released and policy == "Delete" and ann.get(_PROVISIONED_BY) == PROVISIONER:
                    await _reclaim(client, root, pv)
        except Exception as e:
            log.warning("volume watch failed (%s); retrying", e)
            await asyncio.sleep(1.0)


async def _main(kubeconfig: Path, root: Path, node: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(KubeConfig.from_file(kubeconfig))
    await asyncio.gather(watch_claims(client, root, node), watch_volumes(client, root))


def main() -> None:
    """Run the provisioner until killed."""
    parser = argparse.ArgumentParser(prog="python -m localkube.node.provisioner")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_main(args.kubeconfig, args.root.resolve(), args.node))


if __name__ == "__main__":
    main()
