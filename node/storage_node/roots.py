"""Paths under a root: every file path a node builds from a name goes through `under` (pure, no I/O).

Names are validated where they arrive (`names`); this is the second fence: whatever a name holds, a path
built from it is one plain segment per part and stays below its root after normalisation.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutsideRoot(ValueError):
    """A path that would leave its root (a bug or hostile input; never acted on)."""


def under(root: str | Path, *parts: str) -> Path:
    """``root/part/...``; OutsideRoot unless every part is one plain segment and the result stays below root."""
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\0" in part or os.sep in part:
            raise OutsideRoot(f"{part!r} is not a plain path segment")
    base = os.path.normpath(root)
    path = os.path.normpath(os.path.join(base, *parts))
    if os.path.commonpath([base, path]) != base or path == base:
        raise OutsideRoot(f"{path} is not below {base}")
    return Path(path)
