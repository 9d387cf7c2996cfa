"""The node's HTTP wire contract beside `schemas`: header names, and the bodies of intra-cluster answers (pure).

Routes write these, peers and the client read them: one name for each header, one model for each answer, so a
node of one release and a node of the next agree on them (unknown fields are ignored, new ones optional).

Headers of an object answer: `CHECKSUM`, `CHECKSUM_TYPE`, `VERSION` (and ``etag``, ``content-length``).
Every intra-cluster request names the node it is meant for (`TO`): a pod address can be another node's by
now, and that node must not apply a delete meant for the first (it answers 421). Headers of every
intra-cluster answer: `NODE` (who answered: a pod address may be another node's by now) and `MAP_VERSION`
(an asker with an older map catches up). A local look-up adds `TOMBSTONE` (the version of a delete it keeps),
`HANDED_OVER` (the version of a copy it gave to another node, not deleted since) and, on a "not here" from a
node refilling after an empty start, `REFILLING` (its absence proves nothing).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from storage_node import names, strict

CHECKSUM = "x-ferry-checksum"
CHECKSUM_TYPE = "x-ferry-checksum-type"
VERSION = "x-ferry-version"
NODE = "x-ferry-node"
MAP_VERSION = "x-ferry-map-version"
TOMBSTONE = "x-ferry-tombstone"
HANDED_OVER = "x-ferry-handed-over"
TO = "x-ferry-to"  # the node an intra-cluster request is meant for: another node at that address refuses it (421)
REFILLING = "x-ferry-refilling"  # a local look-up's "not here" from a node refilling after an empty start: unsure


class DeleteAnswer(BaseModel):
    """A node's answer to a cluster-wide delete applied locally: what it held before (older nodes: `existed` only)."""

    existed: bool = False
    held: strict.Version | None = None  # the version of the copy it removed
    tomb: strict.Version | None = None  # the tombstone it had before
    refilling: bool = False  # it refills after an empty start: "held nothing" proves nothing


class ListPage(BaseModel):
    """A node's own entries of a bucket (``[name, size, checksum, version, deleted]``) and its moved-out counter."""

    entries: list[tuple[names.ObjectName, strict.Count, str, strict.Count, strict.Flag]] = Field(max_length=10_000)
    moved_out: strict.Count
    refilling: bool = False  # it refills after an empty start: its page may lack objects it should hold


class Counters(BaseModel):
    """A node's moved-out counter (listings compare it to see objects move meanwhile)."""

    moved_out: strict.Count


HOLDINGS_BATCH = 2000  # names in one question of `Holdings`


class HoldingsAsk(BaseModel):
    """Which copies of these objects of one bucket a node holds (the rebalance of K copies asks the holders)."""

    bucket: names.BucketName
    objects: list[names.ObjectName] = Field(max_length=HOLDINGS_BATCH)


class Holdings(BaseModel):
    """For each name asked, in order: ``[version, checksum, tombstone]`` (0 and "": no copy; 0: no tombstone)."""

    copies: list[tuple[strict.Count, str, strict.Count]] = Field(max_length=HOLDINGS_BATCH)


class BundleEndpoint(BaseModel):
    """The port of a node's raw rebalance-bundle listener (None: it has none)."""

    port: int | None = Field(default=None, gt=0, lt=65536)
