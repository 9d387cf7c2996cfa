"""Object versions: a per-process hybrid clock (wall-clock nanoseconds, strictly increasing)."""

from __future__ import annotations

import time

from storage_node import strict

_last = 0


def next_version() -> int:
    """A version greater than every version this process handed out or observed."""
    global _last
    _last = max(time.time_ns(), _last + 1)
    return _last


def observe(version: int) -> None:
    """Make later versions of this process greater than `version` (ValueError if no version can be)."""
    global _last
    if not strict.is_version(version):
        raise ValueError(f"not a version this node can keep: {version!r}")
    _last = max(_last, version)
