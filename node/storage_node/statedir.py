"""The node's state directory: persisted cluster map and rebalance marker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from storage_node import fileio
from storage_node.schemas import ClusterMap, RebalanceStatus

log = logging.getLogger(__name__)


LEAVING = "leaving"  # the pre-stop step's mark, under the state dir


class StateDir:
    """Files under the state dir (tombstones and buckets are kept by their own modules)."""

    def __init__(self, root: Path) -> None:
        """Bind to (and create) the state directory."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def map_path(self) -> Path:
        """Where the installed map lives."""
        return self.root / "map.json"

    @property
    def marker_path(self) -> Path:
        """Where the rebalance marker lives."""
        return self.root / "rebalance.json"

    @property
    def leaving_path(self) -> Path:
        """Where `storage_node.prestop` marks the node as leaving (its pod is being deleted)."""
        return self.root / LEAVING

    @property
    def buckets_path(self) -> Path:
        """Where the bucket registry lives."""
        return self.root / "buckets.json"

    def load_map(self) -> ClusterMap | None:
        """The last installed map, if any; a kept map that is not valid is reported and treated as none.

        The node then starts without a map and takes the next valid one it is given (`save_map` replaces
        the file), instead of failing to start.
        """
        return _load(self.map_path, ClusterMap)

    def save_map(self, cmap: ClusterMap) -> None:
        """Persist a newly installed map (always fsynced: it is small and rare)."""
        fileio.write_json(self.map_path, cmap.model_dump(mode="json"), fsync=True)

    def load_marker(self) -> RebalanceStatus | None:
        """The rebalance marker, if any (a marker that is not valid is reported and treated as none)."""
        return _load(self.marker_path, RebalanceStatus)

    def save_marker(self, status: RebalanceStatus) -> None:
        """Persist the rebalance marker."""
        fileio.write_json(self.marker_path, status.model_dump(mode="json"), fsync=True)

    def clear(self) -> None:
        """Remove the map and the marker (node cleanup)."""
        self.map_path.unlink(missing_ok=True)
        self.marker_path.unlink(missing_ok=True)
        (self.root / "mountpaths.json").unlink(missing_ok=True)


M = TypeVar("M", bound=BaseModel)


def _load(path: Path, model: type[M]) -> M | None:
    """A kept model from its file: None if there is none, or if what is there is not valid (reported)."""
    try:
        raw = fileio.read_json(path)
        return None if raw is None else model.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        log.error("%s is not a valid %s, going on without it: %s", path, model.__name__, exc)
        return None
