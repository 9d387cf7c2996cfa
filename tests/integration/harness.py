"""Test harness: start/kill/restart node processes, push maps, load and verify objects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from storage_node import auth, fileio, maps
from storage_node.client import SyncNodeClient
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, RebalanceStage
from storage_node.store import read_header

SECRET = "integration-secret-0123456789abcdef0123456789"
BUCKET = "data"
_NET = random.Random(os.getpid()).randrange(10, 250)
_hosts = iter(range(2, 250))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> None:
    """Poll `check` until true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class NodeProc:
    """One node process and its directories."""

    id: str
    host: str
    port: int
    mountpaths: list[Path]
    state_dir: Path
    log: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://{self.host}:{self.port}"

    def entry(self, *flags: NodeFlag) -> NodeEntry:
        """Map entry of this node."""
        return NodeEntry(id=self.id, url=self.url, flags=list(flags))


def objects_on_disk(mountpaths: list[Path]) -> dict[tuple[str, str], str]:
    """(bucket, name) -> checksum of every object file under the mountpaths (read from disk)."""
    out: dict[tuple[str, str], str] = {}
    for mp in mountpaths:
        root = mp / "ferry" / "objs"
        if not root.is_dir():
            continue
        for f in root.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    parsed = read_header(fh)
                assert parsed is not None, f
                meta, _ = parsed
                out[(meta.bucket, meta.name)] = meta.cksum
    return out


class Cluster:
    """A set of node processes under one temp dir."""

    def __init__(self, root: Path) -> None:
        """Nothing runs yet."""
        self.root = root
        self.nodes: dict[str, NodeProc] = {}
        self.map: ClusterMap | None = None

    # ---- processes ----------------------------------------------------------------------------------

    def add_node(self, node_id: str, mountpaths: int = 1, *extra: str) -> NodeProc:
        """Start a new node and wait until it is ready."""
        host = f"127.{_NET}.{os.getpid() % 250}.{next(_hosts)}"
        node = NodeProc(
            id=node_id,
            host=host,
            port=_free_port(host),
            mountpaths=[self.root / node_id / f"mp{i}" for i in range(mountpaths)],
            state_dir=self.root / node_id / "state",
            log=self.root / f"{node_id}.log",
            extra_args=list(extra),
        )
        self.nodes[node_id] = node
        self.start(node)
        return node

    def start(self, node: NodeProc) -> None:
        """(Re)start a node process and wait for readiness."""
        args = [sys.executable, "-m", "storage_node", "--node-id", node.id, "--listen", f"{node.host}:{node.port}"]
        for mp in node.mountpaths:
            args += ["--mountpath", str(mp)]
        args += ["--state-dir", str(node.state_dir), "--log-level", "warning", *node.extra_args]
        env = {**os.environ, "FERRY_AUTH_SECRET": SECRET}
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

        def ready() -> bool:
            assert node.proc is not None
            if node.proc.poll() is not None:
                raise AssertionError(f"{node.id} exited: {node.log.read_text()[-2000:]}")
            try:
                return httpx.get(node.url + "/health/ready", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(f"{node.id} ready", ready, timeout=30)

    def readdress(self, node: NodeProc) -> None:
        """Give a stopped node another address (a pod re-created with a new IP)."""
        node.host = f"127.{_NET}.{os.getpid() % 250}.{next(_hosts)}"
        node.port = _free_port(node.host)

    def kill(self, node: NodeProc) -> None:
        """kill -9 a node."""
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)

    def terminate(self, node: NodeProc) -> int:
        """SIGTERM a node; its exit code (killed if it does not stop within 15 s)."""
        assert node.proc is not None
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
            try:
                return node.proc.wait(15)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)
                return -9
        return int(node.proc.returncode)

    def stop_all(self) -> None:
        """Stop every process this cluster started (by pid)."""
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)

    # ---- clients and maps ---------------------------------------------------------------------------

    def form(self, count: int) -> list[str]:
        """Start nodes n0..n{count-1}, install the first map (g1) and create BUCKET; return the nodes' URLs."""
        for i in range(count):
            self.add_node(f"n{i}")
        self.push_map(self.make_map(1, 1))
        with self.client(self.nodes["n0"]) as c:
            c.create_bucket(BUCKET)
        return [n.url for n in self.nodes.values()]

    def client(self, node: NodeProc, *, token: bool = True) -> SyncNodeClient:
        """A sync client of a node (with an admin token unless token=False)."""
        return SyncNodeClient(node.url, secret=SECRET if token else None, timeout=60.0)

    def make_map(
        self,
        version: int,
        reb: int | None,
        flags: dict[str, list[NodeFlag]] | None = None,
        members: list[str] | None = None,
        copies: int = 1,
    ) -> ClusterMap:
        """A map of the given members (default: all nodes) with flags, holding `copies` copies of each object."""
        flags = flags or {}
        ids = members if members is not None else list(self.nodes)
        return ClusterMap(
            version=version,
            rebalance_id=None if reb is None else f"g{reb}",
            # dated as the operator dates a node entering the map: one wiped later knows it held data
            nodes={i: self.nodes[i].entry(*flags.get(i, [])).model_copy(update={"since": time.time()}) for i in ids},
            copies=copies,
        )

    def push_map(self, cmap: ClusterMap, targets: list[str] | None = None) -> None:
        """Install a map on the given nodes (default: every node of the map)."""
        self.map = cmap
        for node_id in targets if targets is not None else list(cmap.nodes):
            with self.client(self.nodes[node_id]) as c:
                c.install_map(cmap)

    def rebalance_done(self, reb: str) -> bool:
        """Whether every node of the current map reports `done` for `reb`."""
        assert self.map is not None
        for node_id in self.map.nodes:
            with self.client(self.nodes[node_id]) as c:
                st = c.rebalance_status()
            if st.stage is RebalanceStage.error:
                raise AssertionError(f"{node_id} rebalance error: {st.errors}")
            if st.id != reb or st.stage is not RebalanceStage.done:
                return False
        return True

    def wait_rebalance(self, reb: str, timeout: float = 120.0) -> None:
        """Wait until the global rebalance `reb` is complete."""
        wait_for(f"rebalance {reb}", lambda: self.rebalance_done(reb), timeout=timeout, interval=0.2)

    def set_bandwidth(self, node: NodeProc, bandwidth: int, concurrency: int | None = None) -> None:
        """Throttle a node's rebalance."""
        from storage_node.schemas import SettingsUpdate

        with self.client(node) as c:
            c.update_settings(SettingsUpdate(rebalance_bandwidth=bandwidth, rebalance_concurrency=concurrency))

    # ---- data ---------------------------------------------------------------------------------------

    def holdings(self) -> dict[str, dict[tuple[str, str], str]]:
        """What each node holds on its disks."""
        return {nid: objects_on_disk(n.mountpaths) for nid, n in self.nodes.items()}

    def assert_in_place(
        self, expected: dict[str, str], bucket: str = BUCKET, uncertain: frozenset[str] | set[str] = frozenset()
    ) -> None:
        """Every expected object is on exactly its proper node (by the current map), nothing else anywhere.

        `uncertain` names objects whose last write's outcome nobody knows (a client got 503 or was cut off): each
        may be there (at its proper node, once) or not.
        """
        assert self.map is not None
        placement = maps.Placement(self.map)
        held = self.holdings()
        seen: dict[str, str] = {}
        for node_id, objs in held.items():
            for (b, name), ck in objs.items():
                assert b == bucket, (node_id, b, name)
                assert name not in seen, f"{name} on both {seen[name]} and {node_id}"
                seen[name] = node_id
                owner = placement.owner(b, name).id
                assert owner == node_id, f"{name} on {node_id}, proper node {owner}"
                assert name in uncertain or ck == expected.get(name), (
                    f"{name} on {node_id}: wrong checksum or resurrected"
                )
        missing = set(expected) - set(seen)
        assert not missing, f"{len(missing)} objects lost, e.g. {sorted(missing)[:5]}"


    def assert_copies(self, expected: dict[str, str], bucket: str = BUCKET) -> None:
        """Every expected object is on exactly its holders by the current map (K copies), with its checksum."""
        assert self.map is not None
        placement = maps.Placement(self.map)
        where: dict[str, set[str]] = {}
        for node_id, objs in self.holdings().items():
            for (b, name), ck in objs.items():
                assert b == bucket and name in expected, f"unexpected {b}/{name} on {node_id}"
                assert ck == expected[name], f"{name} on {node_id}: wrong checksum"
                where.setdefault(name, set()).add(node_id)
        wrong = {
            name: (sorted(where.get(name, ())), sorted(h.id for h in placement.holders(bucket, name)))
            for name in expected
            if where.get(name, set()) != {h.id for h in placement.holders(bucket, name)}
        }
        assert not wrong, f"{len(wrong)} objects not on exactly their holders (on, holders): {list(wrong.items())[:5]}"


def payload(name: str, size: int) -> bytes:
    """Deterministic content of an object."""
    return random.Random(name).randbytes(size)


def mixed_sizes(count: int, seed: int = 1) -> dict[str, int]:
    """Object names with mixed sizes: mostly small, some medium, a few of several MiB."""
    rnd = random.Random(seed)
    out = {}
    for i in range(count):
        r = rnd.random()
        size = (
            rnd.randint(0, 16 << 10)
            if r < 0.9
            else rnd.randint(64 << 10, 512 << 10)
            if r < 0.99
            else rnd.randint(1 << 20, 4 << 20)
        )
        out[f"dir{i % 7}/obj-{i:05d}-ü"] = size
    return out


async def _upload(urls: list[str], bucket: str, objects: dict[str, int], concurrency: int = 16) -> dict[str, str]:
    sem = asyncio.Semaphore(concurrency)
    sums: dict[str, str] = {}
    async with httpx.AsyncClient(follow_redirects=True, timeout=60.0) as http:

        async def one(i: int, name: str, size: int) -> None:
            data = payload(name, size)
            async with sem:
                r = await http.put(f"{urls[i % len(urls)]}/v1/objects/{bucket}/{name}", content=data)
            assert r.status_code == 200, (name, r.status_code, r.text)
            assert r.json()["checksum"] == fileio.checksum(data)
            sums[name] = r.json()["checksum"]

        await asyncio.gather(*(one(i, n, s) for i, (n, s) in enumerate(objects.items())))
    return sums


def upload(urls: list[str], objects: dict[str, int], bucket: str = BUCKET) -> dict[str, str]:
    """PUT objects round-robin through `urls`; name -> checksum."""
    return asyncio.run(_upload(urls, bucket, objects))


async def _verify(urls: list[str], bucket: str, expected: dict[str, str], concurrency: int) -> list[str]:
    sem = asyncio.Semaphore(concurrency)
    bad: list[str] = []
    async with httpx.AsyncClient(follow_redirects=True, timeout=60.0) as http:

        async def one(url: str, name: str, ck: str) -> None:
            async with sem:
                r = await http.get(f"{url}/v1/objects/{bucket}/{name}")
            if r.status_code != 200 or fileio.checksum(r.content) != ck or r.headers["x-ferry-checksum"] != ck:
                bad.append(f"{url} {name}: {r.status_code}")

        await asyncio.gather(*(one(url, n, ck) for url in urls for n, ck in expected.items()))
    return bad


def verify_readable(urls: list[str], expected: dict[str, str], bucket: str = BUCKET, concurrency: int = 16) -> None:
    """GET every object through every url and compare checksums (of the bytes and of the header)."""
    bad = asyncio.run(_verify(urls, bucket, expected, concurrency))
    assert not bad, f"{len(bad)} bad reads, e.g. {bad[:5]}"


def admin_headers() -> dict[str, str]:
    """Authorization header with a valid token."""
    return {"Authorization": f"Bearer {auth.issue_token(SECRET)}"}


def suppress_errors() -> contextlib.AbstractContextManager[None]:
    """Context that ignores HTTP errors (for best-effort calls)."""
    return contextlib.suppress(httpx.HTTPError)
