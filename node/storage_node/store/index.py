"""The in-memory index of the objects on this node's mountpaths, with their count and total size."""

from __future__ import annotations

from storage_node.store.format import ObjMeta


class Index:
    """Every local object by bucket and name; changed only synchronously, on the event loop."""

    def __init__(self) -> None:
        """An empty index; loading fills it."""
        self._objs: dict[str, dict[str, ObjMeta]] = {}
        self.total_bytes = 0
        self.total_objects = 0

    def add(self, meta: ObjMeta) -> None:
        """Index an object, replacing the entry of the same name."""
        bucket = self._objs.setdefault(meta.bucket, {})
        old = bucket.get(meta.name)
        if old is not None:
            self.total_bytes -= old.size
            self.total_objects -= 1
        bucket[meta.name] = meta
        self.total_bytes += meta.size
        self.total_objects += 1

    def remove(self, meta: ObjMeta) -> None:
        """Drop an object's entry, only if it is still exactly this one."""
        bucket = self._objs.get(meta.bucket, {})
        if bucket.get(meta.name) is meta:
            del bucket[meta.name]
            self.total_bytes -= meta.size
            self.total_objects -= 1

    def get(self, bucket: str, name: str) -> ObjMeta | None:
        """The local object, if any."""
        return self._objs.get(bucket, {}).get(name)

    def snapshot(self) -> list[ObjMeta]:
        """All local objects at this instant."""
        return [m for objs in self._objs.values() for m in objs.values()]

    def objects_of(self, bucket: str) -> dict[str, ObjMeta]:
        """The local objects of one bucket (live view, do not mutate)."""
        return self._objs.get(bucket, {})

    def buckets(self) -> list[str]:
        """The buckets with an entry in the index."""
        return list(self._objs)

    def drop_bucket(self, bucket: str) -> int:
        """Forget a bucket's objects; the number forgotten."""
        count = len(self._objs.pop(bucket, {}))
        self.total_objects = sum(len(o) for o in self._objs.values())
        self.total_bytes = sum(m.size for o in self._objs.values() for m in o.values())
        return count
