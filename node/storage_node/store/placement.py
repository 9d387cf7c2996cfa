"""Where objects live on this node: the configured mountpaths, legacy ones still on disk, each object's HRW one."""

from __future__ import annotations

from pathlib import Path

from storage_node import hrw


class Placement:
    """The node's mountpaths (resolved), the previously configured ones still holding objects, and the HRW ring."""

    def __init__(self, mountpaths: list[str]) -> None:
        """Resolve the configured mountpaths; loading finds the legacy ones."""
        self.current = [str(Path(mp).resolve()) for mp in mountpaths]
        self.legacy: list[str] = []  # configured before, still on disk: emptied by the next resilver
        self._ring = hrw.Ring(self.current)

    def proper(self, bucket: str, name: str) -> str:
        """The HRW mountpath of an object on this node."""
        return self._ring.winner(f"{bucket}/{name}")

    def every(self) -> list[str]:
        """The configured mountpaths, then the legacy ones."""
        return [*self.current, *self.legacy]
