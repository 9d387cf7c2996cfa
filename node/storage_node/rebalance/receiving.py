"""Receiving bundles (I/O): the one receiver of both transports, and the raw listener in front of it.

A session runs in a thread of its own: it reads with ``recv_into`` into one preallocated buffer, hashes and
writes each object to its temp file, and hands only the final check-and-install to the event loop (in
batches), where it runs without yielding (invariant 2). The raw listener binds the node's HTTP host on
``--bundle-port`` (0 = any free port; -1 = none) and is announced by ``GET /v1/internal/rebalance/endpoint``;
a bundle that comes over HTTP (``POST /v1/internal/rebalance/recv``) is fed to the same session through a
socket pair (`Receiver.tunnel`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from storage_node import auth, names
from storage_node.buckets import BucketRecord
from storage_node.limits import Limits
from storage_node.rebalance import bundles, hosts
from storage_node.schemas import rebalance_number
from storage_node.store import NoSpace, Tmp, Verdict

log = logging.getLogger(__name__)

_FLUSH_OBJECTS = 256
_FLUSH_BYTES = 16 << 20
_TIMEOUT = 120.0
_MAX_CONNECTIONS = 64

Batch = list[tuple[bundles.FrameHeader, Tmp | None]]  # None: refused, the mountpath is full


class _Sink:
    """Where one frame's data goes: its temp file, or nowhere once the mountpath is full (the rest is read and dropped).

    A full mountpath refuses that object only: its temp file is gone, the session goes on (the sender keeps its
    copy and retries later), and the objects that still fit (smaller, or on another mountpath) are installed.
    """

    def __init__(self, begin: Callable[[], Tmp]) -> None:
        """Open the temp file with `begin` (a full mountpath refuses the object now)."""
        self.tmp: Tmp | None = None
        self.full: NoSpace | None = None
        try:
            self.tmp = begin()
        except NoSpace as exc:
            self.full = exc

    def __call__(self, piece: memoryview) -> None:
        """Write a piece of the frame's data (or drop it once refused)."""
        if self.tmp is None:
            return
        try:
            self.tmp.write(piece)
        except NoSpace as exc:  # the temp file dropped itself
            self.tmp, self.full = None, exc


class Receiver:
    """Installs the copies of incoming bundles (invariant 2); the session protocol is in `bundles`."""

    def __init__(
        self,
        host: hosts.Host,
        secret: str | None,
        counted: Callable[[str, int], None],
        committed: Callable[[bool], None],
        limits: Limits | None = None,
    ) -> None:
        """Install into `host`; tell `counted` (rebalance id, size) of each copy installed, `committed` per batch.

        `committed` hears whether the batch left a spare copy here (one that stands in for a holder that did not
        take it): this node then traverses again, to hand it to its holder and drop it once all of them hold it.
        """
        self._host = host
        self._secret = secret
        self.limits = limits or Limits()
        self._counted = counted
        self._committed = committed

    # ---- installing (the event loop) ---------------------------------------------------------------

    def _install(self, reb: str, head: bundles.FrameHeader, tmp: Tmp | None) -> str:
        """Check-and-install one received copy (invariant 2: synchronous, on the event loop); None: it did not fit."""
        bucketset = self._host.buckets
        if head.bucket_version and not bucketset.exists(head.bucket):
            self._host.apply_bucket_records({head.bucket: BucketRecord(head.bucket_version, True)})
        if not bucketset.accepts(head.bucket, head.version):
            if tmp is not None:
                tmp.abort()
            return Verdict.gone
        if tmp is None:  # did not fit; if something newer is here anyway, the sender may drop its copy
            newer = self._host.store.verdict(head.bucket, head.name, head.version) is Verdict.newer
            return Verdict.newer if newer else Verdict.nospace
        verdict = self._host.store.commit_migrating(tmp, head.version, head.cksum)
        if verdict is Verdict.ok:
            self._counted(reb, head.size)
        return verdict

    def _spare_copy(self, bucket: str, name: str) -> bool:
        """Whether a copy installed here stands in for a holder (K copies, this node not among the object's holders)."""
        placement = self._host.placement
        if placement is None or placement.map.copies == 1:
            return False
        return all(h.id != self._host.id for h in placement.holders(bucket, name))

    def _commit(self, reb: str, batch: Batch) -> list[str]:
        """Install a batch of received copies (event loop, no yielding); their verdicts."""
        verdicts: list[str] = []
        spare = False
        try:
            for head, tmp in batch:
                verdicts.append(self._install(reb, head, tmp))
                spare = spare or (verdicts[-1] == Verdict.ok and self._spare_copy(head.bucket, head.name))
        except BaseException:
            for _, tmp in batch[len(verdicts) :]:
                if tmp is not None:
                    tmp.abort()
            raise
        self._committed(spare)
        return verdicts

    # ---- a session (its own thread) ----------------------------------------------------------------

    def serve(
        self, conn: socket.socket, loop: asyncio.AbstractEventLoop, hello_said: Callable[[], None] = lambda: None
    ) -> None:
        """Serve one bundle session on a connected socket, then close it (any error just drops it).

        `hello_said` is called once the sender has shown a valid token.
        """
        try:
            with conn:
                self._session(conn, loop, hello_said)
        except Exception as exc:  # the sender sees the connection drop and retries
            log.info("bundle connection dropped: %s: %s", type(exc).__name__, exc)

    def _begin(self, head: bundles.FrameHeader) -> Tmp:
        names.check_bucket(head.bucket)
        names.check_object(head.name)
        return self._host.store.begin_migrating(head.bucket, head.name, head.size, head.version, head.cksum)

    def _refusal(self, hello: Any) -> str | None:
        if not isinstance(hello, dict):
            return "no hello"
        try:
            auth.verify_header(self._secret, f"Bearer {hello.get('token') or ''}")
        except auth.AuthError as exc:
            return f"unauthorized: {exc}"
        if hello.get("to") != self._host.id:
            return f"this is {self._host.id}, not {hello.get('to')}"
        try:
            rebalance_number(str(hello.get("reb", "")))
        except ValueError:
            return f"bad rebalance id {hello.get('reb', '')!r}"
        return None

    def _session(self, conn: socket.socket, loop: asyncio.AbstractEventLoop, hello_said: Callable[[], None]) -> None:
        # the hello first, on a small buffer and a short clock: nothing more is spent on a sender before its token
        _timeouts(conn, self.limits.handshake_timeout_s)
        reader = bundles.Reader(conn.recv_into, self.limits.max_hello_bytes)
        hello = reader.message()
        refusal = self._refusal(hello)
        if refusal is not None:
            conn.sendall(bundles.message({"error": refusal}))
            return
        hello_said()
        _timeouts(conn, _TIMEOUT)
        reader.grow()
        reb = str(hello["reb"])
        mv = hello.get("mv")
        if isinstance(mv, int):
            sender = hello.get("from")
            coro = self._host.adopt_newer_map(sender if isinstance(sender, str) else None, mv)
            asyncio.run_coroutine_threadsafe(coro, loop).result(_TIMEOUT)
        conn.sendall(bundles.message({"ok": True}))
        futures: list[concurrent.futures.Future[list[str]]] = []
        batch: Batch = []
        batch_bytes = 0
        refused = 0

        def flush() -> None:
            nonlocal batch, batch_bytes
            if batch:
                futures.append(_on_loop(loop, functools.partial(self._commit, reb, batch)))
            batch, batch_bytes = [], 0

        try:
            while (head := reader.frame()) is not None:
                sink = _Sink(functools.partial(self._begin, head))
                try:
                    reader.stream(head.size, sink)
                except BaseException:
                    if sink.tmp is not None:
                        sink.tmp.abort()
                    raise
                if sink.full is not None:
                    refused += 1
                    if refused == 1:
                        log.warning("refusing rebalance copies from %s: %s", hello.get("from"), sink.full)
                batch.append((head, sink.tmp))
                batch_bytes += head.size
                if len(batch) >= _FLUSH_OBJECTS or batch_bytes >= _FLUSH_BYTES:
                    flush()
        except BaseException:
            for _, tmp in batch:
                if tmp is not None:
                    tmp.abort()
            raise
        flush()
        verdicts: list[str] = []
        for fut in futures:
            verdicts += fut.result(_TIMEOUT)
        conn.sendall(bundles.message({"verdicts": verdicts}))

    # ---- HTTP (the fallback) -----------------------------------------------------------------------

    async def tunnel(self, hello: dict[str, Any], body: AsyncIterator[bytes]) -> Any:
        """Serve a bundle that came over HTTP with the same session; its answer (verdicts, or an error)."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        with ours:
            ours.setblocking(False)
            # a thread of its own, not the default executor: senders wait there for other nodes' receivers
            threading.Thread(target=self.serve, args=(theirs, loop), name="bundle-recv-http", daemon=True).start()
            with contextlib.suppress(OSError):  # the session ended early (refused, broken bundle): it says why
                await loop.sock_sendall(ours, bundles.message(hello))
                async for chunk in body:
                    await loop.sock_sendall(ours, chunk)
            answers = bytearray()
            with contextlib.suppress(OSError):  # a reset: the session closed with our bytes unread (refused, broken)
                while data := await loop.sock_recv(ours, 65536):
                    answers += data
        reader = bundles.Reader.of(bytes(answers))
        try:
            answer = reader.message()
            if isinstance(answer, dict) and answer.get("ok") is True:
                answer = reader.message()
        except (EOFError, bundles.ProtocolError):
            return {"error": "bundle dropped (truncated or broken)"}
        return answer


class Listener:
    """The raw bundle listener of a node: an accept thread plus one thread per connection.

    A connection that has not said a valid hello yet is a *handshake*: at most `Limits.max_handshakes` at once
    (one more closes the oldest: a sender says hello at once, an idle or slow one is the one to go), each
    closed after `Limits.handshake_timeout_s`. Sessions past their hello: at most `_MAX_CONNECTIONS`.
    """

    def __init__(self, receiver: Receiver) -> None:
        """Serve sessions with `receiver`; `start()` opens the listener."""
        self._receiver = receiver
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        self._handshakes: dict[socket.socket, float] = {}  # connection -> when it was accepted
        self._lock = threading.Lock()

    def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 = any free port), from the running event loop; the port."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        self._sock = sock
        threading.Thread(target=self._accept, args=(loop,), name="bundle-accept", daemon=True).start()
        return int(sock.getsockname()[1])

    def close(self) -> None:
        """Stop accepting and drop open connections (their senders retry)."""
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _accept(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            evict: socket.socket | None = None
            with self._lock:
                busy = len(self._conns) - len(self._handshakes) >= _MAX_CONNECTIONS
                if not busy:
                    if len(self._handshakes) >= self._receiver.limits.max_handshakes:
                        evict = min(self._handshakes, key=self._handshakes.__getitem__)
                        del self._handshakes[evict]
                    self._conns.add(conn)
                    self._handshakes[conn] = time.monotonic()
            if evict is not None:
                with contextlib.suppress(OSError):
                    evict.shutdown(socket.SHUT_RDWR)  # its session thread ends and closes it
            if busy:
                conn.close()  # the sender sees Refused and uses HTTP for a while
                continue
            threading.Thread(target=self._serve, args=(conn, loop), name="bundle-recv", daemon=True).start()

    def _serve(self, conn: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        def said() -> None:
            with self._lock:
                self._handshakes.pop(conn, None)

        try:
            self._receiver.serve(conn, loop, said)
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._handshakes.pop(conn, None)


def _timeouts(sock: socket.socket, timeout: float) -> None:
    sock.settimeout(None)
    timeval = struct.pack("ll", int(timeout), int(timeout % 1 * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    with contextlib.suppress(OSError):  # not TCP: a socket pair (the HTTP tunnel)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], list[str]]) -> concurrent.futures.Future[list[str]]:
    """Run fn on the event loop; a future of its result."""
    fut: concurrent.futures.Future[list[str]] = concurrent.futures.Future()

    def run() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:
            fut.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return fut
