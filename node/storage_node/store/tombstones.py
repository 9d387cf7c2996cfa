"""Tombstones: the version at which an object was deleted here, kept in ``<state>/tombs/<bucket>/<digest>``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from storage_node import clock, fileio, roots, strict
from storage_node.store.format import _valid_bucket, _valid_object, digest

log = logging.getLogger(__name__)


class Tombstones:
    """Tombstones of every bucket, in memory and in the state dir."""

    def __init__(self, state_dir: Path) -> None:
        """Bind to the state dir; call `load()` before use."""
        self.state_dir = state_dir
        self._tombs: dict[str, dict[str, int]] = {}

    def _path(self, bucket: str, name: str) -> Path:
        return roots.under(self.state_dir, "tombs", bucket, digest(name))

    def load(self) -> None:
        """Read the tombstones on disk (invalid ones are logged and ignored); the clock observes their versions."""
        root = self.state_dir / "tombs"
        if not root.is_dir():
            return
        for bdir in root.iterdir():
            if not _valid_bucket(bdir.name):
                log.error("ignoring %s: not a bucket's tombstones", bdir)
                continue
            for f in bdir.iterdir():
                raw = None if f.name.startswith(".") else fileio.read_json(f)
                if raw is None:
                    continue
                name, version = (raw.get("n"), raw.get("v")) if isinstance(raw, dict) else (None, None)
                if not (isinstance(name, str) and _valid_object(name) and isinstance(version, int)):
                    log.error("ignoring tombstone %s: not a valid name and version", f)
                    continue
                if not strict.is_version(version):
                    log.error("ignoring tombstone %s: not a valid version", f)
                    continue
                self._tombs.setdefault(bdir.name, {})[name] = version
                clock.observe(version)

    def get(self, bucket: str, name: str) -> int | None:
        """Version of the local tombstone of a deleted object, if any."""
        return self._tombs.get(bucket, {}).get(name)

    def of(self, bucket: str) -> dict[str, int]:
        """The local tombstones of one bucket (live view, do not mutate)."""
        return self._tombs.get(bucket, {})

    def write(self, bucket: str, name: str, version: int, *, fsync: bool) -> None:
        """Record a tombstone on disk, then in memory (OSError, e.g. a full volume, leaves memory unchanged)."""
        fileio.write_json(self._path(bucket, name), {"n": name, "v": version}, fsync=fsync)
        self._tombs.setdefault(bucket, {})[name] = version

    def drop(self, bucket: str, name: str) -> None:
        """Remove one tombstone (a newer write replaced the deleted object)."""
        self._tombs.get(bucket, {}).pop(name, None)
        self._path(bucket, name).unlink(missing_ok=True)

    def forget_bucket(self, bucket: str) -> None:
        """Forget a bucket's tombstones in memory (`erase_bucket` removes them on disk)."""
        self._tombs.pop(bucket, None)

    def erase_bucket(self, bucket: str) -> None:
        """Remove a bucket's tombstones on disk."""
        shutil.rmtree(roots.under(self.state_dir, "tombs", bucket), ignore_errors=True)

    def clear(self) -> None:
        """Forget every tombstone, in memory and on disk."""
        self._tombs.clear()
        shutil.rmtree(self.state_dir / "tombs", ignore_errors=True)
