"""Rebalance engine (I/O): runs this node's part of a global rebalance through its stages, sending bundles.

It sees its node only through `hosts.Host`; receiving is `receiving`, the marker `markers`, the stages `stages`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from storage_node import metrics
from storage_node.maps import Placement
from storage_node.rebalance import asking, bundles, copying, hosts, markers, planning, sending, stages
from storage_node.schemas import ClusterMap, RebalanceStage, RebalanceStatus, rebalance_number, rebalance_settled
from storage_node.store import ObjMeta, Verdict

log = logging.getLogger(__name__)

BATCH_OBJECTS = 2000
BATCH_BYTES = 64 << 20
_MAX_ERRORS = 50  # the most recent errors kept in the status (older ones drop off: a stall shows what fails now)
_IDLE_PASS_S = (0.2, 5.0)  # a pass that moved nothing (every receiver refused): first and longest wait before the next
_PORT_RETRY_S = 30.0
_PLACE_TIMEOUT_S = 10.0
NO_REBALANCE = "g0"  # the id a bundle carries before any rebalance ran (a client write's copies on a new cluster)


class _Limiter:
    """A semaphore whose size follows a setting that may change at any time."""

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size
        self._active = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._active < self._size())
            self._active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self._active -= 1
            self._cond.notify_all()


async def _nothing(rid: str) -> None:
    """The default `on_done`: nobody to tell."""


class Rebalancer:
    """This node's rebalance: started by a map with a newer rebalance id, resumed from the marker."""

    def __init__(self, host: hosts.Host) -> None:
        """Bind to the node; call `load()` then `resume()`."""
        self.host = host
        self.status = RebalanceStatus()
        self._task: asyncio.Task[None] | None = None
        self._throttle = sending.Throttle(lambda: self.host.settings.rebalance_bandwidth)
        self._marker = markers.Marker(host.state)
        self._early: dict[str, list[int]] = {}  # received for a rebalance id this node has not started yet
        self._ports: dict[str, tuple[int | None, float]] = {}  # peer URL -> (bundle port, retry HTTP-only until)
        self._changed = asyncio.Event()  # set (and replaced) whenever the stage changes: wakes `wait_settled`
        self.on_done: Callable[[str], Awaitable[None]] = _nothing  # told when this node's part of a rebalance ends

    # ---- control -----------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the persisted marker."""
        self.status = self._marker.load()

    def resume(self) -> None:
        """Resume an unfinished rebalance of the installed map (after a restart)."""
        cmap = self.host.map
        if cmap is not None and stages.active(self.status) and self.status.id == cmap.rebalance_id:
            log.info("resuming rebalance %s from its marker", self.status.id)
            self._launch(self.status)

    def on_map(self, cmap: ClusterMap) -> None:
        """Start the map's rebalance if its id is newer than the last one started here."""
        if cmap.rebalance_id is None or rebalance_number(cmap.rebalance_id) <= rebalance_number(self.status.id):
            return
        self._cancel()
        early = self._early.pop(cmap.rebalance_id, [0, 0])
        self.status = stages.started(cmap, (early[0], early[1]))
        self._early = {
            k: v for k, v in self._early.items() if rebalance_number(k) > rebalance_number(cmap.rebalance_id)
        }
        metrics.REB_RUNS.inc()
        log.info("starting rebalance %s (map v%d)", cmap.rebalance_id, cmap.version)
        self._save(self.status, force=True)
        self._launch(self.status)

    def abort(self) -> RebalanceStatus:
        """Stop the running rebalance for good (a newer id starts a new one)."""
        if stages.active(self.status):
            self._cancel()
            stages.finish(self.status, RebalanceStage.aborted)
            self._save(self.status, force=True)
        return self.status

    def forget(self) -> None:
        """Stop and forget everything (node cleanup)."""
        self._cancel()
        self.status = RebalanceStatus()
        self._notify()

    async def wait_settled(self, rid: str, timeout: float) -> RebalanceStatus:
        """The status once rebalance `rid` is over here (`rebalance_settled`), or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not rebalance_settled(self.status, rid) and (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.status

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def stop(self) -> None:
        """Cancel the running task and persist the marker (process shutdown)."""
        task = self._task
        self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if stages.active(self.status):
            self._save(self.status, force=True)

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _launch(self, status: RebalanceStatus) -> None:
        self._task = asyncio.create_task(self._run(status), name=f"rebalance-{status.id}")

    def _save(self, status: RebalanceStatus, *, force: bool = False) -> None:
        if status is not self.status:
            return  # superseded: the marker belongs to the newer rebalance
        if force:
            self._notify()
        self._marker.save(status, force=force)

    def _error(self, status: RebalanceStatus, message: str, count: int = 1) -> None:
        """Record `count` transfer errors under one message (metric, log, the status's most recent errors)."""
        metrics.REB_ERRORS.inc(count)
        log.warning("rebalance %s: %s", status.id, message)
        status.errors.append(f"{stages.now().isoformat()} {message}")
        del status.errors[:-_MAX_ERRORS]

    async def place(self, meta: ObjMeta) -> None:
        """Hand a client write that landed here to its proper node now (the map changed while it was written).

        Called before the write is acknowledged, so an acknowledged object is always where the current map
        puts it or on its way there by a running rebalance. If the owner cannot take it within a few
        seconds, the copy stays here and this node's rebalance traverses again to move it. With K copies,
        every other holder gets its copy now (`_place_copies`).
        """
        placement = self.host.placement
        if placement is not None and placement.map.copies > 1:
            await self._place_copies(meta, placement)
            return
        if placement is None or placement.owner(meta.bucket, meta.name).id == self.host.id:
            return
        owner = placement.owner(meta.bucket, meta.name).id
        try:
            await asyncio.wait_for(self._send_batch(self.status, owner, [meta]), _PLACE_TIMEOUT_S)
        except TimeoutError:
            log.warning("could not hand %s/%s to %s now: the rebalance moves it", meta.bucket, meta.name, owner)
            self.retraverse()
            return
        if self.host.store.get(meta.bucket, meta.name) is meta:  # refused (e.g. the owner is full): keep trying
            self.retraverse()

    async def _place_copies(self, meta: ObjMeta, placement: Placement) -> None:
        """Copy a client write to its other holders before it is acknowledged (one attempt each, at once).

        A holder that does not take it is replaced by the next node of the object's ranking that does (the
        rebalance later moves that copy to the holder); this node keeps its own copy unless it is no holder
        and every holder took one.
        """
        holders = [e.id for e in placement.holders(meta.bucket, meta.name)]
        targets = [h for h in holders if h != self.host.id]

        async def copy_to(peer: str) -> bool:
            try:
                sent = self._send_batch(self.status, peer, [meta], hand_over=False, retry=False)
                return await asyncio.wait_for(sent, _PLACE_TIMEOUT_S) > 0
            except TimeoutError:
                return False

        up = [t for t in targets if not self.host.is_down(t)]  # one found down is not waited for: a spare serves
        took = await asyncio.gather(*(copy_to(t) for t in up))
        missed = [t for t in targets if t not in up] + [t for t, ok in zip(up, took, strict=True) if not ok]
        if not missed:
            if self.host.id not in holders:
                self.host.store.remove_moved(meta.bucket, meta.name, meta.version)
            return
        short = len(missed)
        for spare in (e.id for e in placement.ranked(meta.bucket, meta.name) if e.id not in holders):
            if short == 0:
                break
            if spare != self.host.id and not self.host.is_down(spare) and await copy_to(spare):
                short -= 1
        log.warning("%s/%s: no copy on %s now; the rebalance places it", meta.bucket, meta.name, missed)
        self.retraverse()

    def retraverse(self) -> None:
        """Traverse again (a finished part of the current rebalance found an object out of place)."""
        idle = self._task is None or self._task.done()
        if self.status.id is not None and self.status.stage is RebalanceStage.done and idle:
            self.status.stage = RebalanceStage.traverse
            self._launch(self.status)

    # ---- sending -----------------------------------------------------------------------------------

    async def _run(self, st: RebalanceStatus) -> None:
        try:
            st.stage = RebalanceStage.traverse
            self._save(st, force=True)
            idle = _IDLE_PASS_S[0]
            while True:
                placement = self.host.placement
                if placement is None:
                    break
                copies = placement.map.copies > 1
                if copies:
                    plan, waiting = await self._copies_pass(placement)
                else:
                    plan, waiting = planning.misplaced(self.host.store.snapshot(), placement, self.host.id), 0
                count, size = planning.totals(plan)
                st.objects_to_send = max(st.objects_to_send, st.objects_sent + count)
                st.bytes_to_send = max(st.bytes_to_send, st.bytes_sent + size)
                if count == 0 and not waiting:
                    break
                if waiting:
                    self._error(st, f"{waiting} copies wait for a holder that does not answer")
                before = st.objects_sent
                await self._send_plan(st, plan, hand_over=not copies)
                if st.objects_sent == before:
                    # nothing moved (refused, e.g. a full receiver): the rebalance stalls visibly, its errors
                    # say why, and it goes on by itself once the receiver has room again
                    await asyncio.sleep(idle)
                    idle = min(idle * 2, _IDLE_PASS_S[1])
                else:
                    idle = _IDLE_PASS_S[0]
            st.stage = RebalanceStage.fin
            self._save(st, force=True)
            if st is self.status and st.id is not None:
                # the other nodes hear of it before anyone can see `done` here (the operator removes a shut-down
                # node's pod as soon as it sees it: the news must not go down with the pod)
                await self.on_done(st.id)
            stages.finish(st, RebalanceStage.done)
            self._save(st, force=True)
            log.info("rebalance %s done: sent %d objects, %d bytes", st.id, st.objects_sent, st.bytes_sent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, not a peer problem (those are retried): report it
            log.exception("rebalance %s failed", st.id)
            self._error(st, f"{type(exc).__name__}: {exc}")
            stages.finish(st, RebalanceStage.error)
            self._save(st, force=True)

    async def catch_up(self, patience_s: float = 60.0) -> None:
        """K copies, back after being away (restarted, frozen): return once no holder has a newer copy of one here.

        Missed deletes are applied at once; missed overwrites come from their holders, whose rebalance waits for
        this node. With one copy it returns at once.
        """
        delay, started = 0.2, time.monotonic()
        while True:
            placement = self.host.placement
            if placement is None or placement.map.copies == 1:
                return
            plan = await self._plan_copies(placement)
            if plan.behind == 0:
                return
            if time.monotonic() - started > patience_s:
                log.warning("still %d copies older than another holder's after %.0f s", plan.behind, patience_s)
                started = time.monotonic()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _plan_copies(self, placement: Placement) -> copying.CopyPlan[ObjMeta]:
        """Ask the other holders what they hold of the copies here; apply the deletes this node missed."""
        objects = self.host.store.snapshot()
        answers, unknown = await asking.holdings(self.host, objects, placement)
        plan = copying.plan(objects, placement, self.host.id, answers, unknown)
        for obj, tomb in plan.stale:
            self.host.store.delete(obj.bucket, obj.name, tomb)
        return plan

    async def _copies_pass(self, placement: Placement) -> tuple[dict[str, list[ObjMeta]], int]:
        """K copies: ask the other holders what they hold; apply missed deletes, drop covered copies; what to send."""
        plan = await self._plan_copies(placement)
        for obj in plan.drops:
            self.host.store.remove_moved(obj.bucket, obj.name, obj.version)
        return plan.sends, plan.waiting

    async def _send_plan(self, st: RebalanceStatus, plan: dict[str, list[ObjMeta]], *, hand_over: bool) -> None:
        limiter = _Limiter(lambda: self.host.settings.rebalance_concurrency)

        async def one(peer_id: str, batch: list[ObjMeta]) -> None:
            async with limiter:
                await self._send_batch(st, peer_id, batch, hand_over=hand_over)

        async with asyncio.TaskGroup() as tg:
            for peer_id, items in plan.items():
                for batch in planning.batches(items, BATCH_OBJECTS, BATCH_BYTES):
                    tg.create_task(one(peer_id, batch))

    async def _send_batch(
        self, st: RebalanceStatus, peer_id: str, batch: list[ObjMeta], *, hand_over: bool = True, retry: bool = True
    ) -> int:
        """Send the current local copies of `batch` to `peer_id`; how many it took (or has newer).

        `hand_over`: each copy the peer took goes from here (only while the peer is its owner); otherwise a copy
        is sent to any peer of the map and stays. `retry`: a send that fails is tried again (backing off)
        instead of giving up at once.
        """
        backoff = 0.2
        refused = False
        while True:
            cmap, placement = self.host.map, self.host.placement
            if cmap is None or placement is None or peer_id not in cmap.nodes:
                return 0  # the next traversal pass re-plans against the newer map
            metas: dict[int, ObjMeta] = {}
            items: list[sending.Item] = []
            for planned in batch:
                cur = self.host.store.get(planned.bucket, planned.name)
                if cur is None or (hand_over and placement.owner(cur.bucket, cur.name).id != peer_id):
                    continue
                rec = self.host.buckets.get(cur.bucket)
                frame = bundles.FrameHeader(
                    cur.bucket,
                    cur.name,
                    cur.size,
                    cur.cksum,
                    cur.version,
                    rec.version if rec is not None and rec.exists else 0,
                )
                item = sending.Item(frame, functools.partial(self.host.store.open_exact, cur))
                items.append(item)
                metas[id(item)] = cur
            if not items:
                return 0
            stop = threading.Event()
            peer = cmap.nodes[peer_id]
            port = await self._bundle_port(peer.url)
            try:
                if port is not None:
                    hello = {
                        "token": self.host.peers.headers().get("Authorization", "").removeprefix("Bearer "),
                        "to": peer_id,
                        "from": self.host.id,
                        "reb": st.id or NO_REBALANCE,
                        "mv": cmap.version,
                    }
                    host = urlsplit(peer.url).hostname or "127.0.0.1"
                    call = functools.partial(sending.send_raw, host, port, hello, items, self._throttle, stop)
                else:
                    params = {"reb": st.id or NO_REBALANCE, "from": self.host.id, "mv": str(cmap.version)}
                    call = functools.partial(
                        sending.send_http, peer.url, params, self.host.peers.headers(), items, self._throttle, stop
                    )
                sent, verdicts = await asyncio.to_thread(call)
            except asyncio.CancelledError:
                stop.set()
                raise
            except sending.Refused as exc:
                # stale port (the peer restarted): ask again once; still unusable: HTTP for a while
                if refused:
                    log.info("bundle listener of %s unusable (%s): using HTTP", peer_id, exc)
                    self._ports[peer.url] = (None, time.monotonic() + _PORT_RETRY_S)
                else:
                    self._ports.pop(peer.url, None)
                refused = True
                continue
            except sending.SendError as exc:
                self._ports.pop(peer.url, None)
                self._error(st, f"send to {peer_id}: {exc}")
                if not retry:
                    return 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 3.0)
                continue
            rejected: dict[str, list[ObjMeta]] = {}
            took = 0
            for item, verdict in zip(sent, verdicts, strict=False):
                meta = metas[id(item)]
                if verdict in (Verdict.ok, Verdict.newer, Verdict.gone):
                    if hand_over:
                        self.host.store.remove_moved(meta.bucket, meta.name, meta.version)
                    took += 1
                    st.objects_sent += 1
                    st.bytes_sent += meta.size
                    metrics.REB_OBJECTS_SENT.inc()
                    metrics.REB_BYTES_SENT.inc(meta.size)
                else:  # the copy stays here (invariant 1); the next pass offers it again
                    rejected.setdefault(verdict, []).append(meta)
            for verdict, objs in rejected.items():
                what = f"{objs[0].bucket}/{objs[0].name}"
                what = what if len(objs) == 1 else f"{len(objs)} objects, e.g. {what}"
                why = " (no space left on its mountpath)" if verdict == Verdict.nospace else ""
                self._error(st, f"{peer_id} rejected {what}: {verdict}{why}", len(objs))
            self._save(st)
            return took

    async def _bundle_port(self, url: str) -> int | None:
        """The peer's raw bundle port (cached), or None to use the HTTP route."""
        cached = self._ports.get(url)
        if cached is not None and (cached[0] is not None or time.monotonic() < cached[1]):
            return cached[0]
        port = await self.host.peers.bundle_port(url)
        self._ports[url] = (port, time.monotonic() + _PORT_RETRY_S)
        return port

    # ---- receiving (`receiving.Receiver` installs, this counts) --------------------------------------

    def received(self, reb: str, size: int) -> None:
        """Count a copy of rebalance `reb` installed here (one that started early counts when it starts)."""
        metrics.REB_OBJECTS_RECEIVED.inc()
        metrics.REB_BYTES_RECEIVED.inc(size)
        if reb == self.status.id:
            self.status.objects_received += 1
            self.status.bytes_received += size
        elif rebalance_number(reb) > rebalance_number(self.status.id):
            counts = self._early.setdefault(reb, [0, 0])
            counts[0] += 1
            counts[1] += size

    def committed(self, spare: bool = False) -> None:
        """A batch of received copies was installed: persist the counts now and then; a spare copy: traverse again."""
        self._save(self.status)
        if spare:
            self.retraverse()
