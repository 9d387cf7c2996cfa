"""The rebalance marker (I/O, through the host's state directory): resuming after a restart (invariant 4).

Written at every stage change and at most once a second otherwise.
"""

from __future__ import annotations

import time

from storage_node.rebalance import hosts
from storage_node.schemas import RebalanceStatus

_INTERVAL_S = 1.0


class Marker:
    """This node's persisted rebalance status."""

    def __init__(self, state: hosts.Markers) -> None:
        """Persist through `state`."""
        self._state = state
        self._last = 0.0

    def load(self) -> RebalanceStatus:
        """The persisted status (a fresh one if none)."""
        return self._state.load_marker() or RebalanceStatus()

    def save(self, status: RebalanceStatus, *, force: bool = False) -> None:
        """Persist now if `force` (a stage change), else if the last write is a second old."""
        now = time.monotonic()
        if force or now - self._last > _INTERVAL_S:
            self._last = now
            self._state.save_marker(status)
