"""Objects across the cluster: look-ups, deletes and listings that ask the other nodes (a part of `Node`).

A node that may hold an object and does not answer is waited for (`hold_until`, `wait_for_peers`) rather than
taken for "not there"; a drained node (flagged, its rebalance finished) holds nothing and is not asked; an
answer asked by an older map than the one installed meanwhile is asked again (`_asking`, `_moved_on`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from storage_node import peers
from storage_node.schemas import ObjectInfo
from storage_node.store import Deletion, found_live

if TYPE_CHECKING:
    from storage_node.maps import Placement
    from storage_node.schemas import ClusterMap, NodeEntry, Settings
    from storage_node.store import Store

T = TypeVar("T")
_REASK_S = 1.0  # a request waiting for a silent node asks it again this often (or when a newer map arrives)


class Unavailable(Exception):
    """A cluster-wide operation could not reach a node it needs, or cannot tell yet (maps to HTTP 503)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the other nodes (drained ones aside) hold of one object name."""

    best: peers.Presence | None  # the newest copy or tombstone among them
    handed_over: int | None  # the newest version one of them handed to another node (not deleted since)
    unknown: list[str]  # nodes that could not answer (and why): they may hold it


class ClusterObjects:
    """`Node`'s operations on objects across the cluster; the node provides what is declared here."""

    if TYPE_CHECKING:
        id: str
        map: ClusterMap | None
        placement: Placement | None
        store: Store
        peers: peers.Peers
        settings: Settings
        _drained: set[str]

        @property
        def refilling(self) -> bool: ...
        def _askable(self, *, down_too: bool = False) -> list[NodeEntry]: ...
        def _unreachable(self, node: NodeEntry) -> None: ...
        def is_down(self, node_id: str) -> bool: ...
        async def wait_for_map(self, version: int, timeout: float) -> bool: ...
        async def adopt_newer_map(self, from_id: str | None, version: int) -> None: ...

    async def catch_up(self) -> bool:
        """Whether a peer answered with a newer map than this node's and this node now holds it (ask again)."""
        version, peer = self.peers.newest_map
        if self.map is None or version <= self.map.version:
            return False
        before = self.map.version
        await self.adopt_newer_map(peer, version)
        return self.map is not None and self.map.version > before

    @property
    def map_version(self) -> int:
        """The version of the map this node holds (0: none yet)."""
        return 0 if self.map is None else self.map.version

    def _asking(self) -> tuple[int, frozenset[str]]:
        """The map version and the drained nodes as a round of questions to the other nodes starts.

        An answer is judged by what was true when it was asked: a node drained then may hold objects by
        the time its silence is read (the map moved on and the node came back, maybe at another address).
        """
        return self.map_version, frozenset(self._drained)

    def _moved_on(self, asked: tuple[int, frozenset[str]]) -> bool:
        """Whether this node took another map since `asked`: a round asked by the old one is asked again."""
        return self._asking()[0] != asked[0]

    def hold_until(self) -> float:
        """Until when a request that cannot tell yet waits for the nodes that did not answer (then 503)."""
        return time.monotonic() + self.settings.peer_wait_seconds

    async def wait_for_peers(self, until: float, asked: int) -> bool:
        """Pause before asking silent nodes again: until a newer map than v`asked` or a moment; False past `until`.

        A node pod that is killed comes back at its address (its container restarted) or at a new one that
        the next map gives: either way the question is asked again instead of answered 503 at once.
        """
        left = until - time.monotonic()
        if left <= 0:
            return False
        await self.wait_for_map(asked + 1, min(_REASK_S, left))
        return True

    def _silent_counts(self, node_id: str, asked: tuple[int, frozenset[str]]) -> bool:
        """Whether a node that did not answer leaves a doubt: unless it was drained when asked and still is."""
        return node_id not in asked[1] or node_id not in self._drained

    async def look_up(self, bucket: str, name: str) -> Lookup:
        """What the other nodes hold of an object (get-from-neighbor), and which of them could not say.

        Asked by a newer map than this node's (a peer's answer says so), it takes that map and asks again:
        the object may have moved to a node this node did not know of yet. A map that arrives while the
        question is out (the operator's push) is asked by again too.
        """
        for _ in range(3):
            asked = self._asking()
            found = await self._look_up_once(bucket, name, asked)
            if not self._moved_on(asked) and not await self.catch_up():
                break
        return found

    async def _look_up_once(self, bucket: str, name: str, asked: tuple[int, frozenset[str]]) -> Lookup:
        targets = self._askable()  # drained ones too: they know what they handed on (shut down: no answer)
        answers = await asyncio.gather(*(self.peers.presence(n, bucket, name) for n in targets), return_exceptions=True)
        best: peers.Presence | None = None
        moved: int | None = None
        unknown: list[str] = []
        unsure: list[str] = []
        sure: list[str] = []
        for node, answer in zip(targets, answers, strict=True):
            if isinstance(answer, peers.PeerError):
                if self._silent_counts(node.id, asked):
                    unknown.append(f"{node.id} ({answer})")
                self._unreachable(node)
                continue
            if isinstance(answer, BaseException):
                raise answer
            if answer.found is not None and (best is None or answer.found.version > best.version):
                best = answer.found
            if answer.handed_over is not None and (moved is None or answer.handed_over > moved):
                moved = answer.handed_over
            (unsure if answer.unsure and answer.found is None else sure).append(node.id)
        return Lookup(best, moved, unknown + self.unsure_holders(bucket, name, unsure, sure))

    def unsure_holders(self, bucket: str, name: str, unsure: list[str], sure: list[str]) -> list[str]:
        """Refilling holders whose "not here" leaves a doubt: of an object no other holder answered for.

        One holder that answered for sure (`sure`; this node too, unless it refills) says what the object is;
        a refilling one alone (its other holders down, silent or refilling too) cannot.
        """
        unsure = [*unsure, self.id] if self.refilling else unsure  # its own "not here" too
        if not unsure or self.placement is None:
            return []
        holders = [n.id for n in self.placement.holders(bucket, name)]
        answered = {*sure, *(() if self.refilling else (self.id,))}
        if any(h in answered for h in holders):
            return []
        return [f"{h} (refilling)" for h in unsure if h in holders]

    async def delete_everywhere(self, bucket: str, name: str) -> bool:
        """Delete here with a tombstone and on every other node; True if it removed a live object.

        A node that may hold the object and does not answer is waited for (`peer_wait_seconds`, a pod that
        restarts comes back at its address or at a new one the next map gives); Unavailable if it still does
        not answer and no node that did held the object.
        """
        here = self.store.delete(bucket, name)
        stamp = self.store.tombstone(bucket, name)
        if stamp is None or (here.removed is not None and here.removed > stamp):
            return True  # a newer write than this delete is already here
        until, rounds = self.hold_until(), 0
        answers: dict[str, tuple[Deletion | BaseException, tuple[int, frozenset[str]]]] = {}
        while True:
            # drained ones too, so what they handed on is not taken for a live object later; and, when a peer
            # answers with a newer map (or one arrives meanwhile), the nodes this node learns of from it and
            # the ones that did not answer at the address the old map gave
            asked = self._asking()
            # with K copies a node found down is tried too, briefly (1 s), and not waited for (the other holders
            # say what it held): the try gives its tombstone to one that is back already (it may just have
            # received a copy of this object from the rebalance); one that was frozen catches up on thawing
            more = [
                n
                for n in self._askable(down_too=True)
                if isinstance(answers.get(n.id, (None,))[0], peers.PeerError | None)
            ]
            got = await asyncio.gather(
                *(self.peers.delete(n, bucket, name, stamp, quick=self.is_down(n.id)) for n in more),
                return_exceptions=True,
            )
            answers.update({n.id: (a, asked) for n, a in zip(more, got, strict=True)})
            for n, a in zip(more, got, strict=True):
                if isinstance(a, peers.PeerError):
                    self._unreachable(n)
                elif isinstance(a, BaseException):
                    raise a
            rounds += 1
            if rounds < 3 and (self._moved_on(asked) or await self.catch_up()):
                continue
            held = [here, *(a for a, _ in answers.values() if isinstance(a, Deletion))]
            unknown = [
                f"{n} ({a})"
                for n, (a, when) in answers.items()
                if isinstance(a, peers.PeerError) and self._silent_counts(n, when) and not self.is_down(n)
            ]
            if found_live(held, own=stamp):
                return True
            deletions = {n: a for n, (a, _) in answers.items() if isinstance(a, Deletion)}
            unsure = [n for n, d in deletions.items() if d.unsure]
            unknown += self.unsure_holders(bucket, name, unsure, [n for n in deletions if n not in unsure])
            if not unknown:
                return False
            if not await self.wait_for_peers(until, asked[0]):
                who = ", ".join(unknown)
                raise Unavailable(f"deleted where it could be, but {who} could not say whether it held it")

    def list_local(self, bucket: str, prefix: str, after: str, limit: int) -> list[list[object]]:
        """Local entries [name, size, checksum, version, deleted] with name > after, sorted, at most limit."""
        objs, tombs = self.store.objects_of(bucket), self.store.tombs_of(bucket)
        names = sorted(n for n in {*objs, *tombs} if n > after and n.startswith(prefix))[:limit]
        out: list[list[object]] = []
        for n in names:
            meta = objs.get(n)
            tomb = tombs.get(n)
            if meta is not None and (tomb is None or meta.version > tomb):
                out.append([n, meta.size, meta.cksum, meta.version, False])
            else:
                out.append([n, 0, "", tomb or 0, True])
        return out

    async def list_cluster(
        self, bucket: str, prefix: str, after: str, limit: int
    ) -> tuple[list[ObjectInfo], str | None]:
        """One page of the cluster-wide listing; retried when an object moved between nodes meanwhile.

        Every other node is asked, drained ones too: this node's map may be older than theirs, and a node it
        takes for drained may already be receiving objects again. A drained node that does not answer (shut
        down) holds nothing and is left out; any other that does not answer makes the listing unavailable.
        """
        until, attempts = self.hold_until(), 0
        while attempts < 8:
            attempts += 1
            asked, nodes = self._asking(), self._askable()
            # read this node's counter before the peers' pages too: an object it hands to a peer while those
            # pages are in flight is missing from both the peer's page and the local one
            mine_before = self.store.moved_out
            before = await asyncio.gather(*(self.peers.moved_out(n) for n in nodes), return_exceptions=True)
            if self._moved_on(asked):
                continue  # a map arrived meanwhile: a node may be at another address, or no longer drained
            try:
                nodes, counters = self._answered(nodes, before, asked)
                pages = await asyncio.gather(
                    *(self.peers.list_local(n, bucket, prefix, after, limit) for n in nodes), return_exceptions=True
                )
                if self._moved_on(asked):
                    continue
                nodes, answered = self._answered(nodes, pages, asked)
                self._check_listing_whole(refilling=self.refilling or any(r for _, _, r in answered))
            except Unavailable:
                # a node that may hold objects did not answer (its pod restarting): wait for it a while
                if not await self.wait_for_peers(until, asked[0]):
                    raise
                attempts -= 1
                continue
            if len(answered) != len(counters):
                continue  # a drained node went away between the two rounds: ask again without it
            local = self.list_local(bucket, prefix, after, limit)
            if self.store.moved_out != mine_before:
                continue
            if await self.catch_up():
                continue  # a peer holds a newer map: objects may be on nodes this one did not know
            if any(b != moved for b, (_, moved, _) in zip(counters, answered, strict=True)):
                continue
            return _merge([local, *(entries for entries, _, _ in answered)], limit)
        raise Unavailable("objects kept moving during the listing; retry")

    def _check_listing_whole(self, *, refilling: bool) -> None:
        """Unavailable when a node is left out as down while one that answered refills (two faults, K copies).

        A node found down is left out because the other holders of its objects list them; a holder that refills
        after an empty start may not hold them yet, so the listing could miss objects: it waits instead.
        """
        down = [n.id for n in self._askable(down_too=True) if self.is_down(n.id)]
        if refilling and down:
            raise Unavailable(f"{', '.join(down)} down while a node refills: the listing cannot be whole")

    def _answered(
        self, nodes: list[NodeEntry], answers: Sequence[T | BaseException], asked: tuple[int, frozenset[str]]
    ) -> tuple[list[NodeEntry], list[T]]:
        """The nodes that answered and their answers; Unavailable if one that may hold objects did not.

        A node drained when asked, and still, holds nothing: its silence is no doubt.
        """
        kept: list[NodeEntry] = []
        out: list[T] = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, peers.PeerError):
                if self._silent_counts(node.id, asked):
                    raise Unavailable(f"{node.id}: {answer}") from answer
                self._unreachable(node)
                continue
            if isinstance(answer, BaseException):
                raise answer
            kept.append(node)
            out.append(answer)
        return kept, out


def _merge(pages: list[list[list[object]]], limit: int) -> tuple[list[ObjectInfo], str | None]:
    """Merge per-node pages: newest entry per name wins, tombstones hide; safe cut-off across full pages."""
    cutoff: str | None = None
    for entries in pages:
        if len(entries) >= limit:
            last = str(entries[-1][0])
            cutoff = last if cutoff is None or last < cutoff else cutoff
    best: dict[str, list[object]] = {}
    for entries in pages:
        for e in entries:
            n = str(e[0])
            if cutoff is not None and n > cutoff:
                continue
            cur = best.get(n)
            if cur is None or int(str(e[3])) > int(str(cur[3])):
                best[n] = e
    names = sorted(best)[:limit]
    more = cutoff is not None or len(best) > limit
    objects = [
        ObjectInfo(name=n, size=int(str(best[n][1])), checksum=str(best[n][2]), version=int(str(best[n][3])))
        for n in names
        if not best[n][4]
    ]
    next_token = names[-1] if more and names else None
    return objects, next_token
