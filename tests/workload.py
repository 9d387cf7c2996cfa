"""Clients as real users run them: any request to any node, reading their own writes, every failure counted.

Each client thread owns a set of keys (nobody else writes them), so it knows at every instant what each of its
keys must read back (read-your-writes): the checksum of its last acknowledged PUT, or nothing after its last
DELETE. It overwrites and deletes them over and over with bodies of 10 B to 200 KB, sends each request to a node
picked at random among the ones `targets()` names at that instant, follows redirects, and lists its own prefix
to the end of the listing. Every exception, every unexpected status and every wrong byte is a counted failure;
nothing is retried. Each request's start and end time is kept so a test can say how many ran while a rebalance
was in progress.

One kind of failure is kept apart, under its own name: a request the client could not get because the node it
went to (picked, or redirected to) was already gone — its connection refused, never answered, reset or closed
(`CUT_OFF`) at an address whose process or pod was, at that moment, stopping or no longer there, as the `gone`
judge given by the test says (a pod list, a walk's record). Those are `gone`, counted by exception class; a
cut-off connection the judge does not excuse is a failure like any other. After the run, `check_back` reads
every key a client wrote back by content.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx
from storage_node import fileio

SIZES = (10, 100, 1_000, 4_096, 20_000, 65_536, 200_000)
#: A connection that went away with its server: refused, never answered (the address's pod force-deleted, its
#: interface gone: the SYN goes nowhere until the connect timeout; no byte of the request reached a server),
#: reset, or closed before an answer came.
CUT_OFF: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
#: (base URL of the node a connection went to, monotonic time it was cut off) -> that node was gone by then.
Gone = Callable[[str, float], bool]
_MAX_OPS_PER_THREAD = 200_000  # a bound: a thread stops by itself even if nobody stops it


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed request: what was asked, of which node, and what came back."""

    op: str
    key: str
    node: str
    status: int
    detail: str
    at: float
    retry_after: bool = False  # a 503 that said when to come back (the node could not tell, and said so)


@dataclass
class _Client:
    """One client thread's own keys and what they must read back (None: deleted or never written)."""

    cid: int
    keys: list[str]
    model: dict[str, str | None] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # a failed PUT or DELETE may or may not have landed: not checked
    renewed: int = 0  # fresh keys that took the place of forgotten ones
    spans: list[tuple[float, float]] = field(default_factory=list)


def body(key: str, gen: int, size: int) -> bytes:
    """Deterministic content of one write of a key."""
    return random.Random(f"{key}#{gen}").randbytes(size)


class Workload:
    """Client threads hammering a cluster until `stop()`; failures and request spans are kept."""

    def __init__(
        self,
        bucket: str,
        targets: Callable[[], list[str]],
        *,
        threads: int = 4,
        keys: int = 50,
        prefix: str = "clients",
        stable: dict[str, str] | None = None,
        seed: int = 0,
        timeout: float = 60.0,
        gone: Gone | None = None,
    ) -> None:
        """`targets()` names the base URLs a client may pick from right now; `stable` objects are only read.

        `gone` judges, once the threads stopped, each cut-off connection (`CUT_OFF`): those to a node gone by
        then are kept in `self.gone`, the others are failures. Without it every cut-off is a failure.
        """
        self.bucket = bucket
        self.targets = targets
        self.prefix = prefix
        self.stable = dict(stable or {})
        self.timeout = timeout
        self.failures: list[Failure] = []
        self.gone: list[Failure] = []  # requests to a node already gone (judged by `gone`), not failures
        self._judge = gone
        self._cut: list[Failure] = []  # cut-off connections, judged in `stop`
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seed = seed
        self._clients = [_Client(c, [f"{prefix}/c{c}/k{i:03d}" for i in range(keys)]) for c in range(threads)]
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in self._clients]

    # ---- control -----------------------------------------------------------------------------------

    def start(self) -> Workload:
        """Start the client threads."""
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 120.0) -> None:
        """Stop the threads and wait for them; AssertionError if one did not finish (it would go uncounted)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"client threads still running after {timeout}s: {alive}"
        cut, self._cut = self._cut, []
        for f in cut:
            (self.gone if self._judge is not None and self._judge(f.node, f.at) else self.failures).append(f)

    def __enter__(self) -> Workload:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- results -----------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests made so far (each listing page counts as one)."""
        return sum(len(c.spans) for c in self._clients)

    def overlapping(self, windows: Iterable[tuple[float, float]]) -> int:
        """How many requests were in flight at some moment of one of `windows` (monotonic seconds)."""
        ws = list(windows)
        return sum(1 for c in self._clients for s, e in list(c.spans) if any(s <= we and e >= ws_ for ws_, we in ws))

    def live(self) -> dict[str, str]:
        """Every key a client wrote and did not delete since, with the checksum it must read back."""
        return {k: v for c in self._clients for k, v in c.model.items() if v is not None}

    def uncertain(self) -> set[str]:
        """Keys whose last write the client cannot know the outcome of (503, cut off): there or not, any version."""
        return {k for c in self._clients for k in c.unknown if k not in c.model}

    def deleted(self) -> list[str]:
        """Every key a client wrote at some point and deleted last."""
        return [k for c in self._clients for k, v in c.model.items() if v is None]

    def gone_by_class(self) -> dict[str, int]:
        """Requests to a node already gone, counted by the exception class that cut them off."""
        out: dict[str, int] = {}
        for f in self.gone:
            cls = f.detail.split(":")[0]
            out[cls] = out.get(cls, 0) + 1
        return out

    def summary(self, per_kind: int = 4) -> str:
        """The failures, counted by kind, with a few examples of each kind; then the requests to a gone node."""
        kinds: dict[str, list[Failure]] = {}
        for f in self.failures:
            kinds.setdefault(f"{f.op} {f.status}", []).append(f)
        counts = {k: len(v) for k, v in kinds.items()}
        examples = "\n".join(
            f"  {f.op} {f.key} via {f.node} at {f.at:.2f}: {f.status} {f.detail}"
            for fs in kinds.values()
            for f in fs[:per_kind]
        )
        gone = f"; {len(self.gone)} to a node already gone {self.gone_by_class()}" if self.gone else ""
        return f"{len(self.failures)} failed of {self.requests} requests {counts}{gone}:\n{examples}"

    def check_back(self, urls: Iterable[str], timeout: float = 30.0) -> list[str]:
        """Read every key a client wrote back through each of `urls`, by content; what did not read back right.

        A live key must answer 200 with the checksum of its last acknowledged write (header and bytes); a
        deleted key must answer 404. Keys whose last write had no known outcome are not read.
        """
        wrong: list[str] = []
        deleted = self.deleted()
        with httpx.Client(follow_redirects=True, timeout=timeout) as http:
            for url in urls:
                for key, want in self.live().items():
                    resp = http.get(self._url(url, key))
                    got = resp.headers.get("x-ferry-checksum")
                    if resp.status_code != 200 or got != want or fileio.checksum(resp.content) != want:
                        wrong.append(f"{key} via {url}: {resp.status_code} {got} != {want}")
                for key in deleted:
                    resp = http.get(self._url(url, key))
                    if resp.status_code != 404:
                        wrong.append(f"deleted {key} via {url}: {resp.status_code}, not 404")
        return wrong

    # ---- the clients -------------------------------------------------------------------------------

    def _fail(self, op: str, key: str, node: str, status: int, detail: str, retry_after: bool = False) -> None:
        with self._lock:
            self.failures.append(Failure(op, key, node, status, detail[:300], time.monotonic(), retry_after))

    def _error(self, url: str, key: str, exc: Exception) -> None:
        """An exception: a failure, or a cut-off connection to be judged (at the node it was cut off from)."""
        detail = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, CUT_OFF) or self._judge is None:
            self._fail("error", key, url, 0, detail)
            return
        try:
            asked = exc.request.url
            node = f"{asked.scheme}://{asked.host}" + (f":{asked.port}" if asked.port else "")
        except RuntimeError:  # no request recorded: the node picked
            node = url
        with self._lock:
            self._cut.append(Failure("error", key, node, 0, detail[:300], time.monotonic()))

    def _run(self, c: _Client) -> None:
        rnd = random.Random(self._seed * 1000 + c.cid)
        gen = 0
        # A live node on this machine accepts a connection within milliseconds; 10 s without one is an address
        # nobody answers (a pod force-deleted), not worth the whole request timeout of a client thread.
        limits = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        with httpx.Client(follow_redirects=True, timeout=limits) as http:
            for _ in range(_MAX_OPS_PER_THREAD):
                if self._stop.is_set():
                    return
                nodes = self.targets()
                if not nodes:
                    time.sleep(0.01)
                    continue
                url = rnd.choice(nodes)
                key = rnd.choice(c.keys)
                r = rnd.random()
                gen += 1
                try:
                    if r < 0.30:
                        self._put(http, c, url, key, gen, rnd.choice(SIZES))
                    elif r < 0.60:
                        self._get(http, c, url, key)
                    elif r < 0.72:
                        self._delete(http, c, url, key)
                    elif r < 0.80:
                        self._head(http, c, url, key)
                    elif r < 0.92 and self.stable:
                        self._get_stable(http, c, url, rnd.choice(list(self.stable)))
                    else:
                        self._list(http, c, url)
                except Exception as exc:  # every exception is a counted failure, the thread goes on
                    self._error(url, key, exc)
                    if r < 0.30 or 0.60 <= r < 0.72:  # a PUT or DELETE cut off: it may or may not have landed
                        self._forget(c, key)

    def _span(self, c: _Client, start: float) -> None:
        c.spans.append((start, time.monotonic()))

    def _url(self, url: str, key: str) -> str:
        return f"{url}/v1/objects/{self.bucket}/{key}"

    def _put(self, http: httpx.Client, c: _Client, url: str, key: str, gen: int, size: int) -> None:
        data = body(key, gen, size)
        t0 = time.monotonic()
        try:
            resp = http.put(self._url(url, key), content=data)
        finally:
            self._span(c, t0)
        want = fileio.checksum(data)
        if resp.status_code != 200:
            self._fail("PUT", key, url, resp.status_code, resp.text)
            self._forget(c, key)
            return
        if resp.json().get("checksum") != want:
            self._fail("PUT", key, url, 200, "acknowledged a different checksum")
        c.model[key] = want

    def _get(self, http: httpx.Client, c: _Client, url: str, key: str) -> None:
        t0 = time.monotonic()
        try:
            resp = http.get(self._url(url, key))
        finally:
            self._span(c, t0)
        self._check_read("GET", key, url, resp, c.model.get(key), resp.content)

    def _get_stable(self, http: httpx.Client, c: _Client, url: str, key: str) -> None:
        t0 = time.monotonic()
        try:
            resp = http.get(self._url(url, key))
        finally:
            self._span(c, t0)
        self._check_read("GET stable", key, url, resp, self.stable[key], resp.content)

    def _head(self, http: httpx.Client, c: _Client, url: str, key: str) -> None:
        t0 = time.monotonic()
        try:
            resp = http.head(self._url(url, key))
        finally:
            self._span(c, t0)
        self._check_read("HEAD", key, url, resp, c.model.get(key), None)

    def _check_read(
        self, op: str, key: str, url: str, resp: httpx.Response, want: str | None, data: bytes | None
    ) -> None:
        if want is None:
            if resp.status_code != 404:
                told = "retry-after" in resp.headers
                why = "a deleted object came back" if resp.status_code < 300 else resp.text[:200]
                self._fail(op, key, url, resp.status_code, f"expected 404: {why}", told)
            return
        if resp.status_code != 200:
            told = "retry-after" in resp.headers
            self._fail(op, key, url, resp.status_code, resp.text if data is not None else "", told)
            return
        got = resp.headers.get("x-ferry-checksum")
        if got != want or (data is not None and fileio.checksum(data) != want):
            self._fail(op, key, url, 200, f"stale or wrong bytes: {got} != {want}")

    def _delete(self, http: httpx.Client, c: _Client, url: str, key: str) -> None:
        t0 = time.monotonic()
        try:
            resp = http.delete(self._url(url, key))
        finally:
            self._span(c, t0)
        want = 200 if c.model.get(key) is not None else 404
        if resp.status_code != want:
            told = "retry-after" in resp.headers
            self._fail("DELETE", key, url, resp.status_code, f"expected {want}: {resp.text}", told)
        if resp.status_code in (200, 404):
            c.model[key] = None
        else:  # the node could not tell whether every copy went: it may be gone or not, not checked again
            self._forget(c, key)

    def _forget(self, c: _Client, key: str) -> None:
        """A write whose outcome the client cannot know: the key is not checked (nor used) again.

        A fresh key takes its place. (Kept in use as a client's last key, as it once was, its next write put it
        back in the model while it stayed uncertain: listings left it out of what they showed and the model
        still expected it, a "missing" object that was a fault of this model, not of the cluster.)
        """
        c.model.pop(key, None)
        c.unknown.add(key)
        if key in c.keys:
            c.keys.remove(key)
        c.renewed += 1
        c.keys.append(f"{self.prefix}/c{c.cid}/r{c.renewed:04d}")

    def _list(self, http: httpx.Client, c: _Client, url: str) -> None:
        prefix = f"{self.prefix}/c{c.cid}/"
        listed: dict[str, str] = {}
        token = ""
        for _page in range(100):
            t0 = time.monotonic()
            try:
                resp = http.get(
                    f"{url}/v1/buckets/{self.bucket}", params={"prefix": prefix, "token": token, "limit": "16"}
                )
            finally:
                self._span(c, t0)
            if resp.status_code != 200:
                self._fail("LIST", prefix, url, resp.status_code, resp.text, "retry-after" in resp.headers)
                return
            page = resp.json()
            listed.update({o["name"]: o["checksum"] for o in page["objects"]})
            token = page.get("next_token") or ""
            if not token:
                break
        want = {k: v for k, v in c.model.items() if v is not None}
        listed = {k: v for k, v in listed.items() if k not in c.unknown}
        if listed != want:
            missing = sorted(set(want) - set(listed))
            extra = sorted(set(listed) - set(want))
            wrong = sorted(k for k in set(want) & set(listed) if want[k] != listed[k])
            self._fail("LIST", prefix, url, 200, f"missing {missing[:3]} extra {extra[:3]} stale {wrong[:3]}")
