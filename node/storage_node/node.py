"""The node service: owns the store, bucket registry, cluster map and rebalancer; routes call into it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TypeVar

from storage_node import auth, buckets, capacity, liveness, maps, metrics, peers
from storage_node.asking import ClusterObjects
from storage_node.bucketing import BucketSync
from storage_node.config import Config
from storage_node.liveness import Liveness
from storage_node.rebalance import receiving, stages
from storage_node.rebalance.engine import Rebalancer
from storage_node.refilling import Refill
from storage_node.schemas import (
    ClusterMap,
    NodeEntry,
    NodeStatus,
    RebalanceStage,
    Settings,
    SettingsUpdate,
    rebalance_number,
)
from storage_node.settling import Settling
from storage_node.statedir import StateDir
from storage_node.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


_SETTLING_POLL_S = 1.0  # while the cluster is not settled, how often a node that finished asks the others
_ANNOUNCE_TO = 8  # how many other nodes a node tells when its part of a rebalance ends
_ANNOUNCE_WAIT_S = 3.0  # how long it waits for them before it shows `done` anyway (gossip covers the rest)
_SPREAD_WAIT_S = 6.0  # how long a write waits for the other nodes to hold this node's map
_GONE_S = 10.0  # a drained node that did not answer is not asked again for this long
_STALL_TICK_S = 0.25  # how often the stall watch looks at the clock


@dataclass(frozen=True, slots=True)
class Route:
    """Where a data request goes: served here, or redirected to `target`."""

    target: NodeEntry | None


class Node(BucketSync, ClusterObjects):
    """One storage node: its store and map, its settling, and (from the mixins) buckets and objects across nodes."""

    def __init__(self, cfg: Config) -> None:
        """Build the components; `start()` loads them."""
        self.cfg = cfg
        self.id = cfg.node_id
        self.settings = cfg.settings.model_copy()
        self.state = StateDir(cfg.state_dir)
        self.store = Store(cfg.mountpaths, cfg.state_dir, fsync=self.settings.fsync)
        self.buckets = buckets.Buckets(self.state.buckets_path, fsync=self.settings.fsync)
        self.map: ClusterMap | None = None
        self.placement: maps.Placement | None = None
        self.tokens = auth.TokenCache(cfg.auth_secret, f"node/{cfg.node_id}")
        self.peers: peers.Peers
        self.rebalancer = Rebalancer(self)
        self.liveness = Liveness(self.id, lambda: self.map)
        self.catching_up = False  # K copies, back from being away: no copy served without asking the others
        self.refill = Refill(self.state.root / "refill.json")
        self.receiver = receiving.Receiver(
            self, cfg.auth_secret, self.rebalancer.received, self.rebalancer.committed, cfg.limits
        )
        self.bundle_port: int | None = None
        self._bundles: receiving.Listener | None = None
        self.ready = False
        self._leaving = False
        self._tasks: set[asyncio.Task[object]] = set()
        self._map_lock = asyncio.Lock()
        self._buckets_synced = False  # pulled the peers' bucket registries since this process started
        self._missed_buckets: set[str] = set()  # peers a bucket change could not be pushed to (pushed again later)
        self._syncing: tuple[float, asyncio.Future[None]] | None = None  # (started, task) of the bucket pull
        self.settling = Settling(self.state.root / "settling.json")
        self._settled = False  # every node of the map finished its rebalance (see `settling`)
        self._drained: set[str] = set()  # flagged nodes that finished it: they hold nothing
        self._settling_task: asyncio.Task[None] | None = None
        self._gone: dict[str, tuple[str, float]] = {}  # drained node id -> (address, until): did not answer
        self._spread: tuple[int, asyncio.Task[None]] | None = None  # (map version, its spreading to the others)
        self._map_arrived = asyncio.Event()  # set (and replaced) whenever a map is installed
        self.rebalancer.on_done = self._rebalance_done
        metrics.bind(self.id, self.reading)

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load state from disk, resume an unfinished rebalance, start resilvering."""
        self.peers = peers.Peers(self.tokens)
        await asyncio.to_thread(self.store.load)
        self.buckets.load()
        self.settling.load()
        cmap = self.state.load_map()
        self.refill.load(saved_map=cmap is not None)
        if cmap is not None:
            self._set_map(cmap)
        self.rebalancer.load()
        st = self.rebalancer.status
        if st.id is not None and st.stage is RebalanceStage.done:
            self.learn_settling({self.id: rebalance_number(st.id)})
        self.rebalancer.resume()
        await self._catch_up_map()  # a newer map supersedes the resumed rebalance
        self._watch_settling()
        self.spawn(self.liveness.run())
        self.spawn(self._watch_stalls())
        if self.map is not None and self.map.copies > 1:
            self.catch_up_copies()  # it may have been away: other holders may have newer copies of its objects
        if any(True for _ in self.store.misplaced_locally()) or self.store._legacy:
            self.spawn(self._resilver())
        self._start_bundle_server()
        self.state.leaving_path.unlink(missing_ok=True)  # a mark left by an earlier container of this pod
        self.ready = True
        log.info("node %s ready: %d objects, %d bytes", self.id, self.store.total_objects, self.store.total_bytes)

    def _start_bundle_server(self) -> None:
        if self.cfg.bundle_port < 0:
            return
        server = receiving.Listener(self.receiver)
        try:
            self.bundle_port = server.start(self.cfg.host, self.cfg.bundle_port)
        except OSError as exc:
            log.warning(
                "no bundle listener on %s:%d (%s): peers send bundles over HTTP",
                self.cfg.host,
                self.cfg.bundle_port,
                exc,
            )
            return
        self._bundles = server

    @property
    def leaving(self) -> bool:
        """Whether its pod is being deleted, as last found by `check_leaving` (no file system call)."""
        return self._leaving

    def check_leaving(self) -> bool:
        """Whether the pre-stop step marked this node leaving (its pod is being deleted); it stays so.

        Asked by the readiness route before it answers: the other nodes count this one down (and stop sending it
        writes) only once its readiness fails, and by then this node no longer serves a read from its own copy
        without asking them (`datapath.read`): a write they made meanwhile is never answered with the old copy.
        """
        if not self._leaving and self.state.leaving_path.exists():
            self._leaving = True
            log.warning("this node's pod is being deleted: not Ready, serving on while it leaves the endpoints")
        return self._leaving

    async def stop(self) -> None:
        """Stop background work (the rebalance marker stays for resuming)."""
        self.ready = False
        if self._bundles is not None:
            self._bundles.close()
            self._bundles = None
            self.bundle_port = None
        await self.rebalancer.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.peers.close()

    def catch_up_copies(self) -> None:
        """Serve no local copy unasked until no other holder has a newer one (`Rebalancer.catch_up`)."""
        if self.catching_up:
            return
        self.catching_up = True

        async def catch_up() -> None:
            try:
                await self.rebalancer.catch_up()
            finally:
                self.catching_up = False
            log.info("caught up with the other holders")

        self.spawn(catch_up())

    async def _watch_stalls(self) -> None:
        """Catch up when this process stood still longer than the others wait for a probe (frozen, SIGSTOP).

        The others took it for down meanwhile and wrote its objects' new versions to the next holders.
        """
        last = time.monotonic()
        while True:
            await asyncio.sleep(_STALL_TICK_S)
            now = time.monotonic()
            if now - last > _STALL_TICK_S + liveness.TIMEOUT_S and self.map is not None and self.map.copies > 1:
                log.warning("this process stood still for %.1f s: catching up with the other holders", now - last)
                self.catch_up_copies()
            last = now

    def spawn(self, coro: Coroutine[object, object, T]) -> asyncio.Task[T]:
        """Run a background coroutine, keeping a reference (cancelled by `stop`)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _resilver(self) -> None:
        moved = await self.store.resilver()
        log.info("resilver moved %d objects to their proper mountpaths", moved)

    def reading(self) -> metrics.Reading:
        """What this node reports to Prometheus now (read at every scrape)."""
        st = self.rebalancer.status
        running = stages.active(st)
        return metrics.Reading(
            objects=self.store.total_objects,
            stored_bytes=self.store.total_bytes,
            capacity=capacity.measure(self.store.mountpaths),
            rebalance_running=running,
            rebalance_remaining_bytes=max(0, st.bytes_to_send - st.bytes_sent) if running else 0,
        )

    # ---- map ---------------------------------------------------------------------------------------

    def _set_map(self, cmap: ClusterMap) -> None:
        old, drained = self.map, self._drained
        self.refill.first_map(self.id, cmap)
        self.map = cmap
        self.placement = maps.Placement(cmap)
        if old is not None and rebalance_number(cmap.rebalance_id) == rebalance_number(old.rebalance_id) + 1:
            # a drained node still flagged receives nothing in the next rebalance: it stays drained, also
            # when it is shut down and cannot say so itself
            n = rebalance_number(cmap.rebalance_id)
            self.settling.merge({i: n for i in drained if i in cmap.nodes and cmap.nodes[i].flags})
        self._refresh_settled()
        self._map_arrived.set()
        self._map_arrived = asyncio.Event()

    # ---- settling ----------------------------------------------------------------------------------

    def _refresh_settled(self) -> None:
        settled, drained = self.settling.settled(self.map), self.settling.drained(self.map)
        if (settled, drained) != (self._settled, self._drained):
            log.info("settled: %s, drained: %s (known: %s)", settled, sorted(drained), self.settling.known())
        self._settled, self._drained = settled, drained
        if settled and self.map is not None:
            self.refill.settled_on(self.map)

    @property
    def refilling(self) -> bool:
        """Whether this node refills after an empty start: its own "not here" proves nothing (`refilling`)."""
        return self.refill.after is not None

    @property
    def settled(self) -> bool:
        """Whether every node of the map finished its rebalance: every object is on its proper node."""
        return self._settled

    def learn_settling(self, done: dict[str, int]) -> None:
        """Take in what is known of finished rebalances (this node's own, or a peer's knowledge)."""
        if self.settling.merge(done):
            self._refresh_settled()

    async def _rebalance_done(self, rid: str) -> None:
        """This node's part of `rid` is over: record it and tell others (bounded) before it shows `done`."""
        self.learn_settling({self.id: rebalance_number(rid)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._announce(), _ANNOUNCE_WAIT_S)

    async def _announce(self) -> None:
        """Tell a few other nodes what this node knows of finished rebalances (its own part just ended).

        A few, not all: the nodes that have not settled ask each other (`_poll_settling`), so the news
        spreads like gossip, in a handful of rounds, without N x N messages per rebalance.
        """
        known = self.settling.known()
        others = self.others()
        to = random.sample(others, min(_ANNOUNCE_TO, len(others)))
        for answer in await asyncio.gather(*(self.peers.settling(n, known) for n in to)):
            if answer:
                self.learn_settling(answer)

    def _watch_settling(self) -> None:
        """Until the cluster is settled, ask the nodes not known to have finished (announcements may be lost)."""
        if self._settled or self.map is None or (self._settling_task is not None and not self._settling_task.done()):
            return
        self._settling_task = self.spawn(self._poll_settling())

    async def _poll_settling(self) -> None:
        while not self._settled and self.map is not None:
            await asyncio.sleep(_SETTLING_POLL_S)
            cmap = self.map
            if cmap is None or not self.settling.finished(self.id, cmap):
                continue  # this node announces its own end; until then the others have not settled either
            pending = set(self.settling.pending(cmap))
            others = self.others()
            ask = [n for n in others if n.id in pending]
            ask = random.sample(ask, min(8, len(ask)))
            rest = [n for n in others if n.id not in pending]
            ask += random.sample(rest, min(1, len(rest)))  # a node that knows what an unreachable one did
            known = self.settling.known()
            for answer in await asyncio.gather(*(self.peers.settling(n, known) for n in ask)):
                if answer:
                    self.learn_settling(answer)

    def lookup_peers(self) -> list[NodeEntry]:
        """The other nodes that may hold objects or serve clients: drained ones do neither."""
        return [n for n in self.others() if n.id not in self._drained]

    async def spread_map(self) -> None:
        """Before a write is acknowledged: make sure the other nodes hold this node's map (bounded wait).

        A node still routing by an older map could otherwise serve a copy older than a write acknowledged
        under the newer one; once every node holds it, none does.
        """
        cmap = self.map
        if cmap is None:
            return
        if self._spread is None or self._spread[0] != cmap.version:
            self._spread = (cmap.version, self.spawn(self._spread_to_others(cmap)))
        task = self._spread[1]
        if not task.done():
            await asyncio.wait({task}, timeout=_SPREAD_WAIT_S)

    async def _spread_to_others(self, cmap: ClusterMap) -> None:
        await asyncio.gather(*(self.peers.put_map(n, cmap) for n in self.lookup_peers()))

    async def wait_for_map(self, version: int, timeout: float) -> bool:
        """Wait (bounded) until a map of at least `version` is installed; whether it is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.map is None or self.map.version < version:
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._map_arrived.wait(), left)
        return True

    async def install_map(self, cmap: ClusterMap) -> bool:
        """Install a newer map (MapConflict if older/different); True if it changed anything."""
        async with self._map_lock:
            if not maps.check_install(self.map, cmap):
                return False
            was_member = self.map is not None and self.id in self.map.nodes
            self.state.save_map(cmap)
            self._set_map(cmap)
            log.info("installed map v%d (rebalance %s)", cmap.version, cmap.rebalance_id)
        if not was_member or not self._buckets_synced:
            # a node that joins or restarted may have missed bucket creations and destructions; a member that
            # kept running got them pushed (asking every peer on every map would cost N x N requests)
            await self.sync_buckets()
            self._buckets_synced = True
        if self._missed_buckets:
            await self._push_buckets(self.buckets.records(), [n for n in self.others() if n.id in self._missed_buckets])
        self.rebalancer.on_map(cmap)
        self._watch_settling()
        return True

    async def _catch_up_map(self) -> None:
        """After a restart: take the newest map the other nodes hold (maps may have changed while this was down)."""
        if self.map is None:
            return
        found = await asyncio.gather(*(self.peers.get_map(n) for n in self.others()))
        newest = max((m for m in found if m is not None), key=lambda m: m.version, default=None)
        if newest is not None and newest.version > self.map.version:
            with contextlib.suppress(maps.MapConflict):
                log.info("map v%d is newer than the v%d kept on disk: installing it", newest.version, self.map.version)
                await self.install_map(newest)

    async def adopt_newer_map(self, from_id: str | None, version: int) -> None:
        """A request carries a newer map version than ours: fetch it from its sender (map skew)."""
        if self.map is not None and version <= self.map.version:
            return
        sources = [n for n in self.others() if from_id is None or n.id == from_id]
        for node in sources:
            cmap = await self.peers.get_map(node)
            if cmap is not None and (self.map is None or cmap.version > self.map.version):
                with contextlib.suppress(maps.MapConflict):
                    await self.install_map(cmap)
                return

    def others(self) -> list[NodeEntry]:
        """Every other node in the map, flagged ones included."""
        return [] if self.placement is None else self.placement.others(self.id)

    def _askable(self, *, down_too: bool = False) -> list[NodeEntry]:
        """The other nodes to ask about objects: drained ones too, except one silent a moment ago.

        Drained nodes know what they handed on; one that did not answer at this address a moment ago is shut
        down (it holds nothing, and a connection to a pod that is gone takes seconds to fail). With K copies a
        node that is down (`liveness`) is not asked either: the other holders of its objects answer for it.
        """
        now = time.monotonic()
        several = self.map is not None and self.map.copies > 1  # a holder that is down has its copies elsewhere
        return [
            n
            for n in self.others()
            if not (several and not down_too and self.liveness.is_down(n.id))
            and not (n.id in self._drained and (gone := self._gone.get(n.id)) and gone[0] == n.url and gone[1] > now)
        ]

    def _unreachable(self, node: NodeEntry) -> None:
        """A drained node did not answer: leave it out of questions for a while (`_askable`)."""
        if node.id in self._drained:
            self._gone[node.id] = (node.url, time.monotonic() + _GONE_S)

    def route(self, bucket: str, name: str, hops: int) -> Route:
        """Serve here (no map, proper owner, or too many hops) or redirect to the proper node.

        With K copies the proper node is the first holder that answers (`liveness`): the primary, or while it
        is down the next holder; with every holder down, this node answers (a read asks the others, a write's
        copies go to the next nodes of the ranking).
        """
        if self.placement is None or self.placement.empty or hops >= 2:
            return Route(None)
        if self.placement.map.copies == 1:
            owner = self.placement.owner(bucket, name)
            return Route(None if owner.id == self.id else owner)
        for holder in self.placement.holders(bucket, name):
            if holder.id == self.id:
                return Route(None)
            if not self.liveness.is_down(holder.id):
                return Route(holder)
        return Route(None)

    def is_down(self, node_id: str) -> bool:
        """Whether another node did not answer its last liveness probe (K copies; never with one)."""
        return self.liveness.is_down(node_id)

    def is_primary(self, bucket: str, name: str) -> bool:
        """Whether this node is the object's primary (with one copy: its owner; no map: itself)."""
        return self.placement is None or self.placement.empty or self.placement.owner(bucket, name).id == self.id

    # ---- admin -------------------------------------------------------------------------------------

    def update_settings(self, update: SettingsUpdate) -> Settings:
        """Apply new settings; the effective settings."""
        data = self.settings.model_dump()
        data.update(update.model_dump(exclude_none=True))
        self.settings = Settings.model_validate(data)
        self.store.fsync = self.settings.fsync
        return self.settings

    def node_status(self) -> NodeStatus:
        """This node's status."""
        return NodeStatus(
            id=self.id,
            mountpaths=self.store.mountpaths,
            objects=self.store.total_objects,
            bytes=self.store.total_bytes,
            map_version=None if self.map is None else self.map.version,
            rebalance=self.rebalancer.status,
            capacity=capacity.measure(self.store.mountpaths),
            refill_after=self.refill.after,
        )

    def cleanup(self, rm_user_data: bool) -> int:
        """Remove node metadata (map, marker, tombstones, buckets) from disk, and all objects if asked.

        The operator cleans a decommissioned node up before it takes it out of the map, while its pod still
        serves: the map and the bucket registry stay in memory until the process ends, so requests sent to it
        meanwhile are still redirected, looked up on the other nodes and listed across them (a node without
        them could only answer 503, or list nothing). Nothing of them is on disk any more: a restart starts
        bare.
        """
        self.rebalancer.forget()
        removed = self.store.drop_all() if rm_user_data else 0
        self.store.drop_tombstones()
        self.buckets.forget_file()
        self.state.clear()
        self.settling.clear()
        self.refill.clear()
        self._refresh_settled()
        return removed
