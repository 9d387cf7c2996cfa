"""Cluster-wide bucket registry: a last-writer-wins set of create/destroy versions, persisted."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from storage_node import clock, fileio, names, strict

log = logging.getLogger(__name__)

#: The wire (and file) form of bucket records: ``{name: [version, exists]}``, every name and version checked
#: as the public routes check them (a record names a directory on every mountpath).
Wire = dict[names.BucketName, tuple[strict.Version, strict.Flag]]
_WIRE: TypeAdapter[Wire] = TypeAdapter(Wire)


@dataclass(frozen=True, slots=True)
class BucketRecord:
    """The latest create (exists) or destroy (not exists) of a bucket, with its version."""

    version: int
    exists: bool


class Buckets:
    """Which buckets exist; merged from peers by version so create/destroy never get undone."""

    def __init__(self, path: Path, *, fsync: bool) -> None:
        """Bind to the registry file; call `load()`."""
        self._path = path
        self._fsync = fsync
        self._records: dict[str, BucketRecord] = {}

    def load(self) -> None:
        """Read the persisted registry."""
        raw = fileio.read_json(self._path) or {}
        self._records = {}
        for name, record in (raw.items() if isinstance(raw, dict) else ()):
            try:
                self._records.update(decode({name: record}))
            except ValueError as exc:
                log.error("bucket registry %s: dropping a record that is not valid: %s", self._path, exc)
        for rec in self._records.values():
            clock.observe(rec.version)

    def _save(self, changes: dict[str, BucketRecord]) -> None:
        """Persist the registry with `changes`, then adopt them: a failed write (a full volume) changes nothing."""
        records = {**self._records, **changes}
        fileio.write_json(self._path, {n: [r.version, r.exists] for n, r in records.items()}, fsync=self._fsync)
        self._records = records

    def get(self, name: str) -> BucketRecord | None:
        """The record of a bucket, if known."""
        return self._records.get(name)

    def exists(self, name: str) -> bool:
        """Whether the bucket currently exists."""
        rec = self._records.get(name)
        return rec is not None and rec.exists

    def accepts(self, name: str, object_version: int) -> bool:
        """Whether an object of this version belongs to the bucket's current incarnation."""
        rec = self._records.get(name)
        return rec is not None and rec.exists and rec.version <= object_version

    def create(self, name: str) -> tuple[BucketRecord, bool]:
        """Create the bucket unless it exists; (record, created)."""
        rec = self._records.get(name)
        if rec is not None and rec.exists:
            return rec, False
        rec = BucketRecord(clock.next_version(), True)
        self._save({name: rec})
        return rec, True

    def destroy(self, name: str) -> BucketRecord | None:
        """Destroy the bucket; its new record, or None if it did not exist."""
        if not self.exists(name):
            return None
        rec = BucketRecord(clock.next_version(), False)
        self._save({name: rec})
        return rec

    def merge(self, records: dict[str, BucketRecord]) -> list[str]:
        """Adopt newer records; the names whose record changed (their old objects may need dropping)."""
        changed: dict[str, BucketRecord] = {}
        for name, rec in records.items():
            mine = self._records.get(name)
            if mine is None or rec.version > mine.version:
                changed[name] = rec
                clock.observe(rec.version)
        if changed:
            self._save(changed)
        return list(changed)

    def records(self) -> dict[str, BucketRecord]:
        """All records (copy)."""
        return dict(self._records)

    def forget_file(self) -> None:
        """Remove the persisted registry (node cleanup); what it holds stays known until the process ends."""
        self._path.unlink(missing_ok=True)


def encode(records: dict[str, BucketRecord]) -> dict[str, list[int | bool]]:
    """Wire form of records."""
    return {n: [r.version, r.exists] for n, r in records.items()}


def decode(raw: Any) -> dict[str, BucketRecord]:
    """Records from their wire form; ValueError (a pydantic ValidationError) naming what is not valid."""
    return from_wire(_WIRE.validate_python(raw))


def from_wire(wire: Wire) -> dict[str, BucketRecord]:
    """Records from their wire form, already validated (a route's body)."""
    return {n: BucketRecord(v, e) for n, (v, e) in wire.items()}


def decode_or_none(raw: Any) -> dict[str, BucketRecord] | None:
    """Records from a peer's answer; None (cannot tell) if it is not valid."""
    try:
        return decode(raw)
    except ValidationError as exc:
        log.warning("a peer answered bucket records that are not valid: %s", exc)
        return None
