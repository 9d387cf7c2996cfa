"""Object store on the node's mountpaths: atomic writes, in-memory index, tombstones, resilver.

On-disk layout (never derived from user text, so no name can escape):
``<mountpath>/ferry/objs/<bucket>/<hh>/<digest>`` where digest = mmh3-128 of the object name; each file is
``b"FRY1" + u32 header length + JSON header {b, n, s, c, v} + data``. Writes go to
``<mountpath>/ferry/tmp/`` and are renamed into place, so readers see a whole object or none.
Tombstones live in ``<state>/tombs/<bucket>/<digest>``. All index changes happen synchronously on the
event loop, so a check-then-install is atomic with respect to every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import json
import logging
import os
import shutil
import struct
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mmh3

from storage_node import clock, fileio, hrw, names, roots, strict

log = logging.getLogger(__name__)

MAGIC = b"FRY1"
MOVED_MEMORY = 200_000  # how many handed-over copies a node remembers (name -> version), oldest forgotten first
_HEAD = struct.Struct(">4sI")


@dataclass(frozen=True, slots=True)
class Deletion:
    """What one node held of an object when a delete reached it.

    A delete found a live object if some node's copy is newer than every tombstone the nodes held before it:
    a stale copy left behind by a cut hand-over is older than the delete that already removed it elsewhere.
    """

    held: int | None  # version of the copy removed here (or handed to a peer and not deleted since)
    tomb: int | None  # version of the tombstone that was here before this delete


def found_live(deletions: Iterable[Deletion]) -> bool:
    """Whether a delete answered by these nodes removed a live object."""
    ds = list(deletions)
    held = max((d.held for d in ds if d.held is not None), default=None)
    tomb = max((d.tomb for d in ds if d.tomb is not None), default=0)
    return held is not None and held > tomb


@dataclass(slots=True)
class ObjMeta:
    """One stored object: identity, size, checksum, version and the mountpath holding it."""

    bucket: str
    name: str
    size: int
    cksum: str
    version: int
    mountpath: str

    def header(self) -> bytes:
        """The file header for this object."""
        body = json.dumps(
            {"b": self.bucket, "n": self.name, "s": self.size, "c": self.cksum, "v": self.version},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return _HEAD.pack(MAGIC, len(body)) + body


class Verdict(enum.StrEnum):
    """Outcome of offering a migrating copy to the store."""

    ok = "ok"
    newer = "newer"  # the store has a newer object or tombstone: the copy is stale
    gone = "gone"  # the bucket does not exist (any more) for this copy
    bad = "bad"  # checksum mismatch
    nospace = "nospace"  # the receiver's mountpath is full: nothing installed, the sender keeps its copy


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def out_of_space(exc: BaseException) -> bool:
    """Whether an error says the filesystem (or the user's quota on it) is full."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


class NoSpace(Exception):
    """A mountpath ran out of space while an object was written: the write left nothing behind (HTTP 507)."""

    def __init__(self, mountpath: str, exc: OSError) -> None:
        """Name the full mountpath."""
        super().__init__(f"no space left on mountpath {mountpath} ({exc.strerror or exc})")
        self.mountpath = mountpath


def digest(name: str) -> str:
    """File name of an object name."""
    return bytes(mmh3.mmh3_x64_128_digest(name.encode())).hex()


def read_header(fh: object) -> tuple[ObjMeta, int] | None:
    """Parse the header of an open object file; (meta without mountpath, data offset) or None."""
    read = fh.read  # type: ignore[attr-defined]
    head = read(_HEAD.size)
    if len(head) != _HEAD.size:
        return None
    magic, length = _HEAD.unpack(head)
    if magic != MAGIC or length > 1 << 16:
        return None
    raw = json.loads(read(length))
    if not isinstance(raw, dict):
        return None
    bucket, name, size, cksum, version = raw.get("b"), raw.get("n"), raw.get("s"), raw.get("c"), raw.get("v")
    if not (isinstance(bucket, str) and _valid_bucket(bucket) and isinstance(name, str) and _valid_object(name)):
        return None
    if not (isinstance(cksum, str) and strict.is_version(version) and strict.is_count(size)):
        return None
    assert isinstance(size, int) and isinstance(version, int)
    return ObjMeta(bucket, name, size, cksum, version, ""), _HEAD.size + length


def _valid_bucket(bucket: str) -> bool:
    return _passes(names.check_bucket, bucket)


def _valid_object(name: str) -> bool:
    return _passes(names.check_object, name)


def _passes(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except names.InvalidName:
        return False
    return True


_SMALL = 1 << 20
_RESERVE = 4096  # header space of a streamed (large) object; names <= 1 KiB always fit


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of `data`: a filesystem filling up writes short first, then fails (ENOSPC) on the next write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Tmp:
    """An object being written: a temp file on its target mountpath plus a running checksum."""

    def __init__(self, store: Store, bucket: str, name: str, size_hint: int = 0, header: ObjMeta | None = None) -> None:
        """Open the temp file (objects known to be large are streamed from the start).

        With `header` (a migrating copy: size, checksum and version are known before the data), the final
        header is written first and every piece of data goes straight to the file; `finish` then only
        closes it, after the caller verified the checksum and size against that header.
        """
        self.store = store
        self.bucket = bucket
        self.name = name
        self.mountpath = store.proper_mountpath(bucket, name)
        self.path = Path(self.mountpath, "ferry", "tmp", uuid.uuid4().hex)
        try:
            self._fh = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed by finish/abort
        except OSError as exc:
            if out_of_space(exc):
                raise NoSpace(self.mountpath, exc) from exc
            raise
        self._fd = self._fh.fileno()
        self.hasher = fileio.Hasher()
        self.size = 0
        self._chunks: list[bytes] = []
        self._known = header
        self._streaming = size_hint > _SMALL or header is not None
        with self.writing():
            if header is not None:
                header.mountpath = self.mountpath
                _write_all(self._fd, header.header())
            elif self._streaming:
                _write_all(self._fd, b"\0" * _RESERVE)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write: any OSError drops the temp file; a full filesystem raises `NoSpace`."""
        try:
            yield
        except OSError as exc:
            self.abort()
            if out_of_space(exc):
                raise NoSpace(self.mountpath, exc) from exc
            raise

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append data: small objects are buffered (header and data in one write), large ones streamed."""
        self.hasher.update(data)
        self.size += len(data)
        with self.writing():
            if self._known is not None:
                _write_all(self._fd, data)
                return
            if not self._streaming:
                if self.size <= _SMALL:
                    self._chunks.append(bytes(data))
                    return
                self._streaming = True
                _write_all(self._fd, b"".join([b"\0" * _RESERVE, *self._chunks]))
                self._chunks = []
            _write_all(self._fd, data)

    def abort(self) -> None:
        """Drop the temp file."""
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def finish(self, version: int, cksum: str) -> ObjMeta:
        """Write the header, optionally fsync, close; the meta of the finished temp object.

        ValueError if a migrating copy does not match its header; `NoSpace` (the temp file dropped) if the
        filesystem is full.
        """
        with self.writing():
            return self._finish(version, cksum)

    def _finish(self, version: int, cksum: str) -> ObjMeta:
        known = self._known
        if known is not None:
            if (known.size, known.cksum, known.version) != (self.size, cksum, version):
                raise ValueError("migrating copy does not match its header")
            if self.store.fsync:
                os.fsync(self._fd)
            self._fh.close()
            return known
        meta = ObjMeta(self.bucket, self.name, self.size, cksum, version, self.mountpath)
        header = meta.header()
        if self._streaming:
            body = header[_HEAD.size :]
            room = _RESERVE - _HEAD.size
            if len(body) > room:
                raise ValueError("object header too large")
            os.pwrite(self._fh.fileno(), _HEAD.pack(MAGIC, room) + body + b" " * (room - len(body)), 0)
        else:
            _write_all(self._fd, b"".join([header, *self._chunks]))
            self._chunks = []
        if self.store.fsync:
            os.fsync(self._fh.fileno())
        self._fh.close()
        return meta


class Store:
    """Objects of every bucket on this node's mountpaths, with their index and tombstones."""

    def __init__(self, mountpaths: list[str], state_dir: Path, *, fsync: bool) -> None:
        """Bind to mountpaths and the state dir; call `load()` before use."""
        self.mountpaths = [str(Path(mp).resolve()) for mp in mountpaths]
        self.state_dir = state_dir
        self.fsync = fsync
        self._objs: dict[str, dict[str, ObjMeta]] = {}
        self._tombs: dict[str, dict[str, int]] = {}
        self.total_bytes = 0
        self.total_objects = 0
        self.moved_out = 0  # copies removed after a peer took them (listings use it to detect races)
        # copies handed to a peer, most recent last: a lookup or delete that meets none of the copies in flight
        # (the receiver had not committed when asked, the sender had removed its copy when asked) learns from
        # this that the object exists and is on its way
        self._moved: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._ring = hrw.Ring(self.mountpaths)
        self._legacy: list[str] = []

    # ---- paths -------------------------------------------------------------------------------------

    def proper_mountpath(self, bucket: str, name: str) -> str:
        """The HRW mountpath of an object on this node."""
        return self._ring.winner(f"{bucket}/{name}")

    @staticmethod
    def path_of(mountpath: str, bucket: str, name: str) -> Path:
        """The file of an object on a mountpath."""
        d = digest(name)
        return roots.under(mountpath, "ferry", "objs", bucket, d[:2], d)

    def _tomb_path(self, bucket: str, name: str) -> Path:
        return roots.under(self.state_dir, "tombs", bucket, digest(name))

    # ---- loading -----------------------------------------------------------------------------------

    def load(self) -> None:
        """Scan mountpaths (current and previously configured ones still on disk) and tombstones."""
        for mp in self.mountpaths:
            for sub in ("objs", "tmp", "trash"):
                Path(mp, "ferry", sub).mkdir(parents=True, exist_ok=True)
            for sub in ("tmp", "trash"):  # emptied, not re-created: a node must start on a full volume
                for left in Path(mp, "ferry", sub).iterdir():
                    if left.is_dir():
                        shutil.rmtree(left, ignore_errors=True)
                    else:
                        left.unlink(missing_ok=True)
        known = fileio.read_json(self.state_dir / "mountpaths.json") or []
        self._legacy = [mp for mp in known if mp not in self.mountpaths and Path(mp, "ferry", "objs").is_dir()]
        self._load_tombs()
        for mp in [*self.mountpaths, *self._legacy]:
            self._scan(mp)
        current = sorted({*self.mountpaths, *self._legacy})
        if known != current:  # only when it changed: a node must start on a full volume
            fileio.write_json(self.state_dir / "mountpaths.json", current, fsync=True)

    def _load_tombs(self) -> None:
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

    def _scan(self, mp: str) -> None:
        root = Path(mp, "ferry", "objs")
        for bdir in root.iterdir():
            for sub in bdir.iterdir():
                for f in sub.iterdir():
                    self._scan_file(mp, f)

    def _scan_file(self, mp: str, f: Path) -> None:
        try:
            with open(f, "rb") as fh:
                parsed = read_header(fh)
        except (OSError, ValueError):
            parsed = None
        if parsed is None:
            log.warning("removing unreadable object file %s", f)
            f.unlink(missing_ok=True)
            return
        meta, _ = parsed
        meta.mountpath = mp
        clock.observe(meta.version)
        tomb = self._tombs.get(meta.bucket, {}).get(meta.name)
        if tomb is not None and tomb >= meta.version:
            f.unlink(missing_ok=True)
            return
        old = self.get(meta.bucket, meta.name)
        if old is not None:
            # duplicate (interrupted resilver): keep the newer one, or the one on its proper mountpath
            keep_new = (meta.version, mp == self.proper_mountpath(meta.bucket, meta.name)) > (
                old.version,
                old.mountpath == self.proper_mountpath(old.bucket, old.name),
            )
            loser = old if keep_new else meta
            self.path_of(loser.mountpath, loser.bucket, loser.name).unlink(missing_ok=True)
            if not keep_new:
                return
            self._unindex(old)
        self._index(meta)

    # ---- index -------------------------------------------------------------------------------------

    def _index(self, meta: ObjMeta) -> None:
        bucket = self._objs.setdefault(meta.bucket, {})
        old = bucket.get(meta.name)
        if old is not None:
            self.total_bytes -= old.size
            self.total_objects -= 1
        bucket[meta.name] = meta
        self.total_bytes += meta.size
        self.total_objects += 1

    def _unindex(self, meta: ObjMeta) -> None:
        bucket = self._objs.get(meta.bucket, {})
        if bucket.get(meta.name) is meta:
            del bucket[meta.name]
            self.total_bytes -= meta.size
            self.total_objects -= 1

    def get(self, bucket: str, name: str) -> ObjMeta | None:
        """The local object, if any."""
        return self._objs.get(bucket, {}).get(name)

    def tombstone(self, bucket: str, name: str) -> int | None:
        """Version of the local tombstone of a deleted object, if any."""
        return self._tombs.get(bucket, {}).get(name)

    def snapshot(self) -> list[ObjMeta]:
        """All local objects at this instant."""
        return [m for objs in self._objs.values() for m in objs.values()]

    def objects_of(self, bucket: str) -> dict[str, ObjMeta]:
        """The local objects of one bucket (live view, do not mutate)."""
        return self._objs.get(bucket, {})

    def tombs_of(self, bucket: str) -> dict[str, int]:
        """The local tombstones of one bucket (live view, do not mutate)."""
        return self._tombs.get(bucket, {})

    # ---- reading -----------------------------------------------------------------------------------

    def open(self, meta: ObjMeta) -> tuple[int, int] | None:
        """Open an object's file: (fd, data offset), or None if it vanished or was replaced."""
        try:
            fd = os.open(self.path_of(meta.mountpath, meta.bucket, meta.name), os.O_RDONLY)
        except FileNotFoundError:
            return None
        head = os.pread(fd, _HEAD.size, 0)
        if len(head) < _HEAD.size:  # not an installed object file (those are renamed into place whole)
            os.close(fd)
            return None
        magic, length = _HEAD.unpack(head)
        if magic != MAGIC:
            os.close(fd)
            return None
        return fd, _HEAD.size + length

    def open_exact(self, meta: ObjMeta) -> tuple[int, int] | None:
        """Open an object's file only if it still holds `meta`'s version: (fd, data offset), or None.

        Files are immutable once installed, so the descriptor keeps that version's bytes even if the object
        is replaced meanwhile (what a rebalance sender needs: it sends exactly the version it planned).
        """
        opened = self.open(meta)
        if opened is None:
            return None
        fd, offset = opened
        try:
            raw = json.loads(os.pread(fd, offset - _HEAD.size, _HEAD.size))
            if raw.get("v") == meta.version and raw.get("s") == meta.size:
                return fd, offset
        except (ValueError, OSError):
            pass
        os.close(fd)
        return None

    def read_all(self, meta: ObjMeta) -> bytes | None:
        """Whole content of a (small) object, or None if it vanished."""
        opened = self.open(meta)
        if opened is None:
            return None
        fd, offset = opened
        try:
            return os.pread(fd, meta.size, offset)
        finally:
            os.close(fd)

    # ---- writing -----------------------------------------------------------------------------------

    def begin(self, bucket: str, name: str, size_hint: int = 0) -> Tmp:
        """Start writing an object; finish with `commit_client` / `commit_migrating` or `Tmp.abort`."""
        return Tmp(self, bucket, name, size_hint)

    def begin_migrating(self, bucket: str, name: str, size: int, version: int, cksum: str) -> Tmp:
        """Start writing a migrating copy whose header is known up front (data streams straight to disk)."""
        return Tmp(self, bucket, name, size, ObjMeta(bucket, name, size, cksum, version, ""))

    def _install(self, meta: ObjMeta, tmp: Tmp) -> None:
        """Rename the finished temp file into place and index it (`NoSpace` if a new directory does not fit)."""
        path = self.path_of(meta.mountpath, meta.bucket, meta.name)
        with tmp.writing():
            try:
                os.replace(tmp.path, path)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp.path, path)
        if self.fsync:
            fileio.fsync_dir(path.parent)
        old = self.get(meta.bucket, meta.name)
        if old is not None and old.mountpath != meta.mountpath:
            self.path_of(old.mountpath, old.bucket, old.name).unlink(missing_ok=True)
        self._index(meta)

    def commit_client(self, tmp: Tmp, expected_cksum: str | None = None) -> ObjMeta:
        """Install a client write as the newest version (it always wins).

        ValueError on checksum mismatch; `NoSpace` if the mountpath is full. Either way nothing of the write
        stays behind and the previous version, if any, is untouched.
        """
        cksum = tmp.hasher.hexdigest()
        if expected_cksum is not None and expected_cksum != cksum:
            tmp.abort()
            raise ValueError("checksum mismatch")
        meta = tmp.finish(clock.next_version(), cksum)
        self._install(meta, tmp)
        tomb = self.tombstone(meta.bucket, meta.name)
        if tomb is not None and tomb < meta.version:
            self._drop_tomb(meta.bucket, meta.name)
        return meta

    def verdict(self, bucket: str, name: str, version: int) -> Verdict:
        """Whether a migrating copy of this version may be installed (bucket checks are the caller's)."""
        old = self.get(bucket, name)
        if old is not None and old.version >= version:
            return Verdict.newer
        tomb = self.tombstone(bucket, name)
        if tomb is not None and tomb >= version:
            return Verdict.newer
        return Verdict.ok

    def commit_migrating(self, tmp: Tmp, version: int, cksum: str) -> Verdict:
        """Install a migrated copy unless it is corrupt, something newer is here, or it does not fit (`nospace`)."""
        if tmp.hasher.hexdigest() != cksum or (tmp._known is not None and tmp.size != tmp._known.size):
            tmp.abort()
            return Verdict.bad
        verdict = self.verdict(tmp.bucket, tmp.name, version)
        if verdict is not Verdict.ok:
            tmp.abort()
            return verdict
        clock.observe(version)
        try:
            meta = tmp.finish(version, cksum)
            self._install(meta, tmp)
        except NoSpace:
            return Verdict.nospace
        return Verdict.ok

    # ---- deleting ----------------------------------------------------------------------------------

    def delete(self, bucket: str, name: str, version: int | None = None) -> Deletion:
        """Delete an object, leaving a tombstone so no stale copy comes back; what was here before it."""
        version = version if version is not None else clock.next_version()
        clock.observe(version)
        old = self.get(bucket, name)
        tomb = self.tombstone(bucket, name)
        in_flight = self.handed_over(bucket, name)
        if old is not None and old.version > version:
            return Deletion(old.version, tomb)  # a newer write than this delete is here already
        if tomb is None or tomb < version:
            try:
                self._write_tomb(bucket, name, version)
            except OSError as exc:
                if old is None or not out_of_space(exc):
                    raise
                # the volume is full and the node's state shares it: the object's own space makes room for its
                # tombstone (should that still fail, the delete is not acknowledged: the object went only here)
                self._unindex(old)
                self.path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
                self._write_tomb(bucket, name, version)
        if old is None:
            return Deletion(in_flight if in_flight is not None and in_flight < version else None, tomb)
        self._unindex(old)
        self.path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
        return Deletion(old.version, tomb)

    def _write_tomb(self, bucket: str, name: str, version: int) -> None:
        fileio.write_json(self._tomb_path(bucket, name), {"n": name, "v": version}, fsync=self.fsync)
        self._tombs.setdefault(bucket, {})[name] = version

    def handed_over(self, bucket: str, name: str) -> int | None:
        """Version of a copy this node handed to a peer and that no later delete seen here removed, if any."""
        moved = self._moved.get((bucket, name))
        if moved is None:
            return None
        tomb = self.tombstone(bucket, name)
        return None if tomb is not None and tomb >= moved else moved

    def _drop_tomb(self, bucket: str, name: str) -> None:
        self._tombs.get(bucket, {}).pop(name, None)
        self._tomb_path(bucket, name).unlink(missing_ok=True)

    def remove_moved(self, bucket: str, name: str, version: int) -> bool:
        """Remove the local copy a peer now holds, only if it is still exactly that version."""
        old = self.get(bucket, name)
        if old is None or old.version != version:
            return False
        self._unindex(old)
        self.path_of(old.mountpath, bucket, name).unlink(missing_ok=True)
        self.moved_out += 1
        self._moved[(bucket, name)] = version
        self._moved.move_to_end((bucket, name))
        while len(self._moved) > MOVED_MEMORY:
            self._moved.popitem(last=False)
        return True

    def drop_bucket(self, bucket: str) -> int:
        """Forget a bucket: its objects and tombstones go; the number of objects removed."""
        count = len(self._objs.pop(bucket, {}))
        for key in [k for k in self._moved if k[0] == bucket]:
            del self._moved[key]
        self.total_objects = sum(len(o) for o in self._objs.values())
        self.total_bytes = sum(m.size for o in self._objs.values() for m in o.values())
        self._tombs.pop(bucket, None)
        for mp in [*self.mountpaths, *self._legacy]:
            src = roots.under(mp, "ferry", "objs", bucket)
            if src.is_dir() and not src.is_symlink():
                dst = roots.under(mp, "ferry", "trash", f"{bucket}.{uuid.uuid4().hex}")
                os.replace(src, dst)
                shutil.rmtree(dst, ignore_errors=True)
        shutil.rmtree(roots.under(self.state_dir, "tombs", bucket), ignore_errors=True)
        return count

    def drop_tombstones(self) -> None:
        """Forget every tombstone (node cleanup)."""
        self._tombs.clear()
        shutil.rmtree(self.state_dir / "tombs", ignore_errors=True)

    def drop_all(self) -> int:
        """Remove every object from the mountpaths (decommission with user data); the count removed."""
        count = self.total_objects
        for bucket in list(self._objs):
            self.drop_bucket(bucket)
        return count

    # ---- resilver ----------------------------------------------------------------------------------

    def misplaced_locally(self) -> Iterator[ObjMeta]:
        """Objects not on their proper local mountpath."""
        for meta in self.snapshot():
            if meta.mountpath != self.proper_mountpath(meta.bucket, meta.name):
                yield meta

    async def resilver(self) -> int:
        """Move every object to its proper mountpath; reads keep working (the index switches atomically)."""
        moved = 0
        for meta in list(self.misplaced_locally()):
            if self.get(meta.bucket, meta.name) is not meta:
                continue
            target = self.proper_mountpath(meta.bucket, meta.name)
            src = self.path_of(meta.mountpath, meta.bucket, meta.name)
            tmp = Path(target, "ferry", "tmp", uuid.uuid4().hex)
            try:
                try:
                    os.link(src, tmp)
                except OSError:
                    await asyncio.to_thread(shutil.copyfile, src, tmp)
            except OSError as exc:  # e.g. the target is full: the object stays where it is, readable
                tmp.unlink(missing_ok=True)
                log.warning("resilver: cannot move %s/%s to %s: %s", meta.bucket, meta.name, target, exc)
                continue
            if self.get(meta.bucket, meta.name) is not meta:
                tmp.unlink(missing_ok=True)
                continue
            dst = self.path_of(target, meta.bucket, meta.name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dst)
            new = ObjMeta(meta.bucket, meta.name, meta.size, meta.cksum, meta.version, target)
            self._index(new)
            src.unlink(missing_ok=True)
            moved += 1
            await asyncio.sleep(0)
        if self._legacy:
            for mp in self._legacy:
                shutil.rmtree(Path(mp, "ferry"), ignore_errors=True)
            self._legacy = []
            fileio.write_json(self.state_dir / "mountpaths.json", sorted(self.mountpaths), fsync=True)
        return moved
