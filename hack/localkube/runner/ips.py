"""Pod IPs: a deterministic, sticky 127.N.y.z per namespace/name, persisted so re-created pods keep theirs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_Y = range(1, 255)  # y = 0 is the control plane's 127.N.0.x
_Z = range(1, 255)
_SIZE = len(_Y) * len(_Z)


class Allocator:
    """Hands out pod IPs in 127.<slot>.0.0/16; a name always gets the address it got first."""

    def __init__(self, slot: int, path: Path) -> None:
        self.slot = slot
        self.path = path
        try:
            saved: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        # A cluster restarted on another slot starts over rather than hand out foreign addresses.
        self._by_key = {k: v for k, v in saved.items() if v.startswith(f"127.{slot}.")}

    def allocate(self, namespace: str, name: str) -> str:
        """The IP of pod ``namespace/name``: its hash slot, or the next free one on a collision."""
        key = f"{namespace}/{name}"
        if key in self._by_key:
            return self._by_key[key]
        taken = set(self._by_key.values())
        start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % _SIZE
        for i in range(_SIZE):
            idx = (start + i) % _SIZE
            ip = f"127.{self.slot}.{_Y[idx // len(_Z)]}.{_Z[idx % len(_Z)]}"
            if ip not in taken:
                self._by_key[key] = ip
                self._save()
                return ip
        raise RuntimeError("pod IP range exhausted")

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._by_key, indent=1, sort_keys=True))
        tmp.replace(self.path)
