"""What every part of the runner shares: API client, cluster facts, IP allocator, the live pod workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from lightkube import AsyncClient

from localkube.layout import Layout
from localkube.runner.ips import Allocator

if TYPE_CHECKING:
    from localkube.runner.pods import PodWorker


@dataclass
class Context:
    """Shared runner state (one per runner process)."""

    client: AsyncClient
    layout: Layout
    address: str
    ips: Allocator
    http: httpx.AsyncClient
    workers: dict[str, PodWorker] = field(default_factory=dict)  # by pod uid
    finished: set[str] = field(default_factory=set)  # uids whose deletion the runner completed

    @property
    def marker(self) -> str:
        """The cluster's process marker value (its state dir)."""
        return str(self.layout.root)

    @property
    def pods_dir(self) -> Path:
        """Per-pod working dirs (volumes, logs)."""
        return self.layout.runner / "pods"

    @property
    def pids_dir(self) -> Path:
        """Pid files of container processes (read by ``down`` if the runner died)."""
        return self.layout.runner / "pids"

    def find(self, namespace: str, name: str) -> PodWorker | None:
        """The newest live worker of pod ``namespace/name``."""
        found = [w for w in self.workers.values() if w.namespace == namespace and w.name == name]
        return max(found, key=lambda w: w.created, default=None)
