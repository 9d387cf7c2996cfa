"""Client load on a cluster as users send it: to every node pod the API shows, whatever the node's state.

`EveryPod` is what the clients pick from: every pod of the cluster that the API shows Ready and not being
deleted — a node in maintenance, leaving, drained or being upgraded included (nothing of the StorageNode's spec
or status is looked at) — read from the pod list every half second, as a client watching pods would. It keeps
every read, so that a connection cut off at some moment can be judged afterwards: the pod at that address was
gone (`EveryPod.went`) when the first read after that moment no longer shows the address, or shows its pod
being deleted since then (the deletion's own time, to the second the API keeps). Those requests are
`Workload.gone`, counted apart and bounded by `GONE_PER_DEPARTURE` for each pod that went; any other cut-off
connection is a failure.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.e2e.operator.ferry_e2e import Dataset, Ferry
from tests.workload import Workload

#: Requests to a pod already gone, at most, for each pod that went (deleted or vanished) while clients ran,
#: with 3 client threads: the ones that picked it before the next read of the pod list, a listing paging on,
#: and the ones other nodes redirected to its address until they learnt its new one (docs/lifecycle.md). The
#: e2e runs measured 5 to 30 a pod; the count grows with the request rate, hence the room.
GONE_PER_DEPARTURE = 60
_RESOLUTION_S = 1.0  # a deletion's time in the API has whole seconds


@dataclass(frozen=True)
class PodRead:
    """One read of the pod list: when it started, and what it showed at each address."""

    started: float  # monotonic
    wall: float  # time.time() at the same instant
    serving: frozenset[str]  # base URLs of the pods Ready and not being deleted
    deleting: dict[str, float]  # base URL -> wall time its pod's deletion was asked
    shown: frozenset[str]  # every address a pod of the cluster has
    uids: frozenset[str]  # the pods shown, not being deleted


def _asked(meta: dict[str, Any]) -> float:
    """Wall time a pod's deletion was asked: its deletionTimestamp is that time plus the grace period."""
    at = datetime.fromisoformat(meta["deletionTimestamp"].replace("Z", "+00:00")).timestamp()
    return at - float(meta.get("deletionGracePeriodSeconds") or 0)


def _url(pod: dict[str, Any]) -> str:
    ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", []) if p.get("name") == "http"]
    return f"http://{pod['status']['podIP']}:{ports[0]['containerPort'] if ports else 8080}"


@dataclass
class EveryPod:
    """What a client picks from: every node pod the API shows serving, refreshed every `interval` seconds."""

    ferry: Ferry
    interval: float = 0.5
    # True: every pod whose Ready condition is True, its deletion asked or not (what clients that watch only
    # the Ready condition send to; a Service's endpoints drop a pod being deleted sooner)
    ready_only: bool = False
    reads: list[PodRead] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)

    def read(self) -> PodRead:
        """Read the pod list now (and keep the read)."""
        started, wall = time.monotonic(), time.time()
        out = self.ferry.kubectl("get", "pods", "-l", f"ferry.dev/cluster={self.ferry.cluster}", "-o", "json")
        serving: set[str] = set()
        deleting: dict[str, float] = {}
        shown: set[str] = set()
        uids: set[str] = set()
        for pod in json.loads(out.stdout)["items"]:
            if not (pod.get("status") or {}).get("podIP"):
                continue
            url, meta = _url(pod), pod["metadata"]
            shown.add(url)
            conds = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
            if meta.get("deletionTimestamp"):
                deleting[url] = _asked(meta)
                if self.ready_only and conds.get("Ready") == "True":
                    serving.add(url)
                continue
            uids.add(meta["uid"])
            if conds.get("Ready") == "True":
                serving.add(url)
        read = PodRead(started, wall, frozenset(serving), deleting, frozenset(shown), frozenset(uids))
        with self._lock:
            self.reads.append(read)
        return read

    def run(self) -> None:
        """Read the pod list every `interval` seconds until `stop` (a failed read is tried again next time)."""
        for _ in range(2400):  # bounded: 20 minutes at most
            if self._done.wait(self.interval):
                return
            with contextlib.suppress(Exception):
                self.read()

    def stop(self) -> None:
        self._done.set()

    def __call__(self) -> list[str]:
        """The addresses a client may send to now."""
        with self._lock:
            return sorted(self.reads[-1].serving) if self.reads else []

    def went(self, url: str, at: float) -> bool:
        """Whether the pod at `url` was gone at monotonic time `at`, by the first read of the pod list after it."""
        with self._lock:
            i = bisect.bisect_right([r.started for r in self.reads], at)
            after = self.reads[i] if i < len(self.reads) else None
        if after is None:
            after = self.read()
        if url in after.serving:
            return False
        if url not in after.shown:
            return True  # no pod has that address any more
        asked = after.deleting.get(url)
        return asked is not None and asked <= after.wall - (after.started - at) + _RESOLUTION_S

    def departures(self) -> int:
        """How many pods went (deleted, or vanished) while the list was read."""
        with self._lock:
            seen = [r.uids for r in self.reads]
        return len(set[str]().union(*seen) - seen[-1]) if seen else 0


@dataclass
class Killed:
    """Node processes a test killed (their pods stay): (base URL, monotonic from, until; None while not back)."""

    spans: list[tuple[str, float, float | None]] = field(default_factory=list)

    def went(self, url: str, at: float) -> bool:
        """Whether the process at `url` was killed and not back at `at`."""
        return any(u == url and start <= at and (end is None or at <= end) for u, start, end in self.spans)


@contextlib.contextmanager
def clients(
    ferry: Ferry, ds: Dataset, killed: Killed | None = None, *, strict: bool = False
) -> Iterator[tuple[Workload, list[tuple[float, float]]]]:
    """Client threads on every node pod for the duration; yields them and a list to record transitions in.

    `killed`: node processes the test kills meanwhile; a connection to one while it is down is `gone` too.
    `strict`: the clients send to every pod whose Ready condition is True (`EveryPod.ready_only`) and nothing is
    excused: a connection refused or cut by a pod that went is a failure like any other.
    """
    with ferry.client("node-1") as c:
        stable = {o.name: o.checksum for o in c.list_all(ds.bucket)}
    assert len(stable) == len(ds.digests)
    pods = EveryPod(ferry, ready_only=strict)
    pods.read()
    thread = threading.Thread(target=pods.run, daemon=True)
    thread.start()
    windows: list[tuple[float, float]] = []
    try:
        def gone_at(url: str, at: float) -> bool:
            return pods.went(url, at) or (killed is not None and killed.went(url, at))

        judge = None if strict else gone_at
        with Workload(ds.bucket, pods, threads=3, keys=50, stable=stable, seed=3, gone=judge) as load:
            yield load, windows
        gone, went = len(load.gone), pods.departures() + (len(killed.spans) if killed is not None else 0)
        print(f"\nclients: {load.summary(per_kind=2)}\n{went} pods went; {len(pods.reads)} reads of the pod list")
        assert gone <= GONE_PER_DEPARTURE * went, f"{gone} requests to a gone pod, {went} pods went: {load.summary()}"
    finally:
        pods.stop()
        thread.join(5)


def assert_read_back(ferry: Ferry, load: Workload) -> None:
    """Every key the clients wrote reads back with its content through every node; no deleted key reads back."""
    wrong = load.check_back(sorted(ferry.addresses().values()))
    assert not wrong, f"{len(wrong)} keys did not read back right: {wrong[:10]}"
