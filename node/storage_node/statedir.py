"""The node's state directory: persisted cluster map and rebalance marker."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from storage_node import fileio
from storage_node.schemas import ClusterMap, RebalanceStatus

log = logging.getLogger(__name__)


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
    def buckets_path(self) -> Path:
        """Where the bucket registry lives."""
        return self.root / "buckets.json"

    def load_map(self) -> ClusterMap | None:
        """The last installed map, if any; a kept map that is not valid is reported and treated as none.

        The node then starts without a map and takes the next valid one it is given (`save_map` replaces
        the file), instead of failing to start.
        """
        try:
            raw = fileio.read_json(self.map_path)
            return None if raw is None else ClusterMap.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            log.error("the kept cluster map %s is not valid, starting without it: %s", self.map_path, exc)
            return None

    def save_map(self, cmap: ClusterMap) -> None:
        """Persist a newly installed map (always fsynced: it is small and rare)."""
        fileio.write_json(self.map_path, cmap.model_dump(mode="json"), fsync=True)

    def load_marker(self) -> RebalanceStatus | None:
        """The rebalance marker, if any (a marker that is not valid is reported and treated as none)."""
        try:
            raw = fileio.read_json(self.marker_path)
            return None if raw is None else RebalanceStatus.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            log.error("the rebalance marker %s is not valid, ignoring it: %s", self.marker_path, exc)
            return None

    def save_marker(self, status: RebalanceStatus) -> None:
        """Persist the rebalance marker."""
        fileio.write_json(self.marker_path, status.model_dump(mode="json"), fsync=True)

    def clear(self) -> None:
        """Remove the map and the marker (node cleanup)."""
        self.map_path.unlink(missing_ok=True)
        self.marker_path.unlink(missing_ok=True)
        (self.root / "mountpaths.json").unlink(missing_ok=True)
