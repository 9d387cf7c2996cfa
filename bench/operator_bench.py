"""Operator benchmark: transition overhead, rebalance throughput vs. node level, and a 100-node cluster."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hostinfo
import httpx
import nodeprocs
from localkube import binaries, processes
from localkube.cluster import Cluster
from prometheus_client.parser import text_string_to_metric_families
from storage_node import auth
from storage_node.client import NodeClient, SyncNodeClient
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag, RebalanceStage
from storage_operator.steps.lifecycle import LEAVE_GRACE_SECONDS

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.operator.ferry_e2e import Ferry, node_manifest  # noqa: E402 - needs the repo root on sys.path

OUT = REPO / "docs" / "benchmarks" / "operator.md"
MiB = 1 << 20
# x 1 MiB, written into the 3-node cluster: the throughput is measured at each total (ascending)
OBJECT_SETS = sorted(int(x) for x in os.environ.get("FERRY_BENCH_OP_OBJECTS", "512,2048,4096").split(","))
REPS = int(os.environ.get("FERRY_BENCH_OP_REPS", "5"))  # transition-overhead repetitions each way
CYCLES = int(os.environ.get("FERRY_BENCH_OP_CYCLES", "3"))  # drain + refill cycles, operator and node level
FLEET = int(os.environ.get("FERRY_BENCH_OP_FLEET", "100"))  # StorageNodes of the large cluster
GROW = int(os.environ.get("FERRY_BENCH_OP_GROW", "10"))  # StorageNodes added at once to it afterwards
# the default requests (100m cpu, 256Mi) of FLEET + GROW pods would not fit on one machine of a few cores
FLEET_SPEC = {"storage": {"mountpaths": 1}, "resources": {"requests": {"cpu": "5m", "memory": "48Mi"}}}
NODES = ["node-1", "node-2", "node-3"]
SETTLE_S = 3.0  # before scraping the pass histogram after transitions
QUIET_S = 1.0  # before each timed move: the nodes finish their after-work, as between a user's commands
DRAINED = "node-2"  # the node put in maintenance for the throughput figure
TOGGLED = "node-3"  # the node toggled for the overhead figure
BUCKET = "bench"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
NS_PREFIX = "ferry-bench-"


# ---- the operator process ---------------------------------------------------------------------------------


@dataclass
class Operator:
    """`kopf run -m storage_operator` as a user runs it, with its metrics endpoint on loopback."""

    env: dict[str, str]
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (standalone, watching only the bench's namespaces)."""
        self.port = nodeprocs.free_port("127.0.0.1")
        env = {**self.env, "FERRY_METRICS_PORT": str(self.port), "FERRY_METRICS_ADDR": "127.0.0.1"}
        cmd = [sys.executable, "-m", "kopf", "run", "-m", "storage_operator", "--standalone"]
        cmd += ["--namespace", f"{NS_PREFIX}*"]
        out = open(self.log, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited; see {self.log}")
            try:
                if httpx.get(self.metrics_url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("operator metrics endpoint did not come up")

    @property
    def metrics_url(self) -> str:
        """Its /metrics URL."""
        return f"http://127.0.0.1:{self.port}/metrics"

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in bytes, from /proc/<pid>/status."""
        assert self.proc is not None
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
        return out

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL after 20 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None


@dataclass
class Hist:
    """A snapshot of the `ferry_reconcile_duration_seconds` histogram (cumulative buckets)."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total: float = 0.0
    joins: float = 0.0  # ferry_transitions_total{operation="join"}
    rebalances: float = 0.0  # ferry_rebalance_duration_seconds: count and sum
    rebalance_s: float = 0.0
    node_events: int = 0  # StorageNode watch events handled (lines of the operator's log)

    def minus(self, old: Hist) -> Hist:
        """The passes between `old` and this snapshot."""
        return Hist(
            {le: v - old.buckets.get(le, 0.0) for le, v in self.buckets.items()},
            self.count - old.count,
            self.total - old.total,
            self.joins - old.joins,
            self.rebalances - old.rebalances,
            self.rebalance_s - old.rebalance_s,
            self.node_events - old.node_events,
        )

    def mean(self) -> float:
        """Mean pass duration (s)."""
        return self.total / self.count if self.count else float("nan")

    def quantile(self, q: float) -> float:
        """Quantile estimated from the buckets, linear inside a bucket (as PromQL's histogram_quantile)."""
        if not self.count:
            return float("nan")
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le in sorted(self.buckets):
            cum = self.buckets[le]
            if cum >= rank:
                if le == float("inf"):
                    return lower
                return lower + (le - lower) * ((rank - below) / (cum - below) if cum > below else 1.0)
            lower, below = le, cum
        return lower


def scrape(op: Operator) -> Hist:
    """The operator's reconcile-duration histogram (and a few counters) now."""
    text = httpx.get(op.metrics_url, timeout=10).text
    h = Hist()
    with open(op.log, "rb") as fh:
        h.node_events = sum(1 for line in fh if b"Handler 'node_event' succeeded" in line)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ferry_transitions_total" and s.labels.get("operation") == "join":
                h.joins = s.value
            elif s.name == "ferry_rebalance_duration_seconds_count":
                h.rebalances = s.value
            elif s.name == "ferry_rebalance_duration_seconds_sum":
                h.rebalance_s = s.value
        if family.name != "ferry_reconcile_duration_seconds":
            continue
        for s in family.samples:
            if s.name.endswith("_bucket"):
                h.buckets[float(s.labels["le"])] = s.value
            elif s.name.endswith("_count"):
                h.count = s.value
            elif s.name.endswith("_sum"):
                h.total = s.value
    return h


# ---- driving a StorageCluster -------------------------------------------------------------------------------


def node_id_states(ferry: Ferry) -> dict[str, str]:
    """Effective state of every StorageNode."""
    items = json.loads(ferry.kubectl("get", "storagenodes", "-o", "json").stdout)["items"]
    return {i["metadata"]["name"]: (i.get("status") or {}).get("state", "") for i in items}


def transition(ferry: Ferry, node: str, state: str, timeout: int = 300) -> float:
    """Seconds from `kubectl patch` (started) to `kubectl wait --for=condition=Ready` (returned)."""
    start = time.perf_counter()
    ferry.patch_state(node, state)
    ferry.wait_ready(node, timeout=timeout)
    elapsed = time.perf_counter() - start
    reached = ferry.status(node).get("state")
    if reached != state:
        raise RuntimeError(f"kubectl wait returned but {node} is {reached}, not {state}")
    return elapsed


def rebalance_window(clients: dict[str, SyncNodeClient]) -> float:
    """Seconds from the first node's start to the last node's finish of the rebalance the nodes just ran."""
    sts = [c.status().rebalance for c in clients.values()]
    rids = {st.id for st in sts}
    if len(rids) != 1 or any(st.started_at is None or st.finished_at is None for st in sts):
        raise RuntimeError(f"nodes report {[(st.id, st.stage) for st in sts]}, expected one finished rebalance")
    first = min(s.started_at for s in sts if s.started_at)
    return (max(s.finished_at for s in sts if s.finished_at) - first).total_seconds()


def create_cluster(ferry: Ferry, nodes: list[str], spec: dict[str, Any], timeout: int) -> float:
    """Namespace, StorageCluster and its nodes in one apply; seconds until every node is Ready."""
    ferry.kubectl_("create", "namespace", ferry.namespace)
    cluster = {"apiVersion": "ferry.dev/v1alpha1", "kind": "StorageCluster", "metadata": {"name": ferry.cluster}}
    start = time.perf_counter()
    ferry.apply({**cluster, "spec": spec}, *(node_manifest(n, ferry.cluster) for n in nodes))
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{ferry.namespace}: nodes not Ready after {timeout}s: {node_id_states(ferry)}")
        done = ferry.kubectl(
            "wait", "--for=condition=Ready", "storagenode", "--all", f"--timeout={int(min(left, 30))}s",
            check=False, timeout=60,
        )  # fmt: skip
        if done.returncode == 0:
            return time.perf_counter() - start
        states = node_id_states(ferry)
        print(f"    {sum(1 for s in states.values() if s)}/{len(nodes)} joined", flush=True)


def destroy_cluster(ferry: Ferry, timeout: float = 180) -> None:
    """Decommission with rmUserData (pods and volumes go), then the namespace."""
    body = '{"spec":{"state":"decommissioned","rmUserData":true}}'
    ferry.kubectl("patch", "storagecluster", ferry.cluster, "--type", "merge", "-p", body, check=False)
    deadline = time.monotonic() + timeout
    while ferry.kubectl("get", "pods", "-o", "name").stdout.strip() and time.monotonic() < deadline:
        time.sleep(1)
    ferry.kubectl_("delete", "namespace", ferry.namespace, "--wait=true", "--timeout=120s", check=False, timeout=150)


def holdings(clients: dict[str, SyncNodeClient]) -> dict[str, tuple[int, int]]:
    """(objects, bytes) each node holds."""
    out = {}
    for n, c in clients.items():
        st = c.status()
        out[n] = (st.objects, st.bytes)
    return out


# ---- node-level baseline: the same nodes and objects, no operator ----------------------------------------------


def start_node(root: Path, node_id: str, index: int) -> nodeprocs.Proc:
    """`python -m storage_node` with the pod's settings (2 mountpaths, concurrency 4, auth on)."""
    host = f"127.0.{230 + index}.{10 + index}"
    port = nodeprocs.free_port(host)
    d = root / node_id
    args = [sys.executable, "-m", "storage_node", "--node-id", node_id, "--listen", f"{host}:{port}"]
    args += ["--state-dir", str(d / "state"), "--mountpath", str(d / "mp0"), "--mountpath", str(d / "mp1")]
    args += ["--rebalance-concurrency", "4", "--rebalance-bandwidth", "0", "--log-level", "warning"]
    d.mkdir(parents=True, exist_ok=True)
    log = open(root / f"{node_id}.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "FERRY_AUTH_SECRET": SECRET})
    url = f"http://{host}:{port}"
    return nodeprocs.ready(node_id, url, proc, 60)


def install(nodes: list[nodeprocs.Proc], version: int, maintenance: str | None, rebalance: bool) -> float:
    """Push map `version` to every node at once; with `rebalance`, wait until all are done; seconds taken.

    The tightest a direct client can drive the nodes: the pushes run concurrently and completion comes from
    the nodes' long poll (no polling interval), so the baseline has no control path to speak of.
    """
    cmap = ClusterMap(
        version=version,
        rebalance_id=f"g{version}" if rebalance else None,
        nodes={
            n.id: NodeEntry(id=n.id, url=n.url, flags=[NodeFlag.maintenance] if n.id == maintenance else [])
            for n in nodes
        },
    )

    async def drive() -> float:
        clients = [NodeClient(n.url, secret=SECRET, timeout=120) for n in nodes]
        try:
            await asyncio.gather(*(c.status() for c in clients))  # connections open before the clock starts
            start = time.perf_counter()
            await asyncio.gather(*(c.install_map(cmap) for c in clients))
            if rebalance:
                assert cmap.rebalance_id is not None
                sts = await asyncio.gather(*(c.rebalance_status(settled=cmap.rebalance_id, wait=60) for c in clients))
                if not all(s.id == cmap.rebalance_id and s.stage is RebalanceStage.done for s in sts):
                    raise RuntimeError(f"baseline rebalance did not finish: {[(s.id, s.stage) for s in sts]}")
            return time.perf_counter() - start
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    return asyncio.run(drive())


@dataclass
class Moves:
    """Drains (to maintenance) and refills (back online): bytes moved by each, seconds of each cycle."""

    drain_bytes: int = 0
    fill_bytes: int = 0
    drain_s: list[float] = field(default_factory=list)
    fill_s: list[float] = field(default_factory=list)
    data_drain_s: list[float] = field(default_factory=list)  # operator: first node start -> last node finish
    data_fill_s: list[float] = field(default_factory=list)

    def record(self, drained: int, filled: int) -> None:
        """Bytes of one cycle: the same objects move every time."""
        if self.drain_bytes and (drained, filled) != (self.drain_bytes, self.fill_bytes):
            raise RuntimeError(f"cycle moved {drained}/{filled} bytes, earlier {self.drain_bytes}/{self.fill_bytes}")
        self.drain_bytes, self.fill_bytes = drained, filled

    def rate(self, which: str) -> float:
        """Bytes/s of the median cycle."""
        if which == "drain":
            return self.drain_bytes / statistics.median(self.drain_s)
        return self.fill_bytes / statistics.median(self.fill_s)


@dataclass
class Rig:
    """One way of moving the same objects: through the operator, or at node level (maps pushed by the bench)."""

    clients: dict[str, SyncNodeClient]
    drain: Callable[[], float]  # DRAINED to maintenance; seconds taken
    fill: Callable[[], float]  # DRAINED back online; seconds taken


def run_cycles(rigs: dict[str, Rig], total: int) -> dict[str, Moves]:
    """CYCLES drains of DRAINED and refills, each move made by every rig in turn under the same load.

    The rigs take turns move by move (the operator's drain, the node-level drain, the operator's refill, the
    node-level refill, ...), so a baseline and its operator figure see the same machine at the same time;
    every move checks every object stays counted.
    """
    moves = {name: Moves() for name in rigs}
    for i in range(CYCLES):
        held = {}
        for name, rig in rigs.items():
            time.sleep(QUIET_S)
            held[name] = holdings(rig.clients)
            assert sum(o for o, _ in held[name].values()) == total, held[name]
            moves[name].drain_s.append(rig.drain())
            moves[name].data_drain_s.append(rebalance_window(rig.clients))
        for name, rig in rigs.items():
            time.sleep(QUIET_S)
            after = holdings(rig.clients)
            assert after[DRAINED][0] == 0 and sum(o for o, _ in after.values()) == total, after
            moves[name].fill_s.append(rig.fill())
            moves[name].data_fill_s.append(rebalance_window(rig.clients))
            back = holdings(rig.clients)
            assert sum(o for o, _ in back.values()) == total, back
            moves[name].record(held[name][DRAINED][1], back[DRAINED][1])
        print(
            f"  {total} objects, cycle {i + 1}: "
            + ", ".join(f"{n}: drain {m.drain_s[-1]:.2f}s, refill {m.fill_s[-1]:.2f}s" for n, m in moves.items()),
            flush=True,
        )
    return moves


class NodeLevel:
    """The node-level baseline: the same node ids and objects as the 3-node cluster, no operator."""

    def __init__(self, root: Path) -> None:
        self.nodes = [start_node(root, n, i) for i, n in enumerate(NODES)]
        self.clients = {n.id: SyncNodeClient(n.url, secret=SECRET) for n in self.nodes}
        self.version = 1
        install(self.nodes, self.version, None, rebalance=False)
        self.clients[NODES[0]].create_bucket(BUCKET)

    def upload(self, total: int, first: int) -> None:
        """Objects `first` .. `total` - 1 of 1 MiB, as written into the operator's cluster."""
        asyncio.run(nodeprocs.upload([n.url for n in self.nodes], BUCKET, total, MiB, first=first))

    def step(self, maintenance: str | None) -> float:
        """The next map (with `maintenance` flagged) pushed to every node; seconds until all are done."""
        self.version += 1
        return install(self.nodes, self.version, maintenance, rebalance=True)

    def rig(self) -> Rig:
        """Its drain and refill."""
        return Rig(self.clients, lambda: self.step(DRAINED), lambda: self.step(None))

    def close(self) -> None:
        """Stop its node processes."""
        for c in self.clients.values():
            c.close()
        nodeprocs.stop(self.nodes)


# ---- phases -------------------------------------------------------------------------------------------------


@dataclass
class Small:
    """Figures of the 3-node cluster."""

    formed_s: float
    to_maintenance: list[float]
    to_online: list[float]
    hist_transitions: Hist
    hist_idle: Hist
    rss: dict[str, int]
    moves: dict[int, Moves] = field(default_factory=dict)  # by total objects written


def idle_window(op: Operator, seconds: float) -> Hist:
    """Reconcile passes during `seconds` of nothing happening."""
    before = scrape(op)
    time.sleep(seconds)
    return scrape(op).minus(before)


def small_cluster(kube: Cluster, op: Operator, root: Path) -> tuple[Small, Ferry, dict[int, Moves]]:
    """Transition overhead (no objects), then the throughput at each of OBJECT_SETS x 1 MiB, and its baseline."""
    ferry = Ferry(kube.kubectl, namespace=f"{NS_PREFIX}small-{int(time.time()) % 100000}")
    print("3-node cluster ...", flush=True)
    # each node's volume holds half of the largest total once a node drained, above the 10% capacity headroom
    size = max(1, -(-(max(OBJECT_SETS) * 6 // 10 + 256) // 1024))
    formed = create_cluster(ferry, NODES, {"storage": {"size": f"{size}Gi"}}, timeout=180)
    print(f"  formed in {formed:.1f}s", flush=True)
    time.sleep(6)  # let the first idle tick pass
    idle = idle_window(op, 20)
    before = scrape(op)
    down, up = [], []
    for i in range(REPS):
        down.append(transition(ferry, TOGGLED, "maintenance"))
        up.append(transition(ferry, TOGGLED, "online"))
        print(f"  overhead rep {i + 1}: to maintenance {down[-1]:.2f}s, to online {up[-1]:.2f}s", flush=True)
    time.sleep(SETTLE_S)  # the pass that wrote the last status ends (and is counted) after kubectl wait returned
    hist = scrape(op).minus(before)
    small = Small(formed, down, up, hist, idle, op.memory())

    urls = ferry.addresses()
    key = ferry.secret()
    with SyncNodeClient(urls[NODES[0]], token=auth.issue_token(key)) as c:
        c.create_bucket(BUCKET)
    clients = {n: SyncNodeClient(urls[n], token=auth.issue_token(key)) for n in NODES}
    print("node-level baseline nodes ...", flush=True)
    base = NodeLevel(root)
    rigs = {
        "operator": Rig(
            clients,
            lambda: transition(ferry, DRAINED, "maintenance"),
            lambda: transition(ferry, DRAINED, "online"),
        ),
        "node level": base.rig(),
    }
    baseline: dict[int, Moves] = {}
    try:
        written = 0
        for total in OBJECT_SETS:
            print(f"writing objects up to {total} x 1 MiB through the data API (both) ...", flush=True)
            asyncio.run(nodeprocs.upload([urls[n] for n in NODES], BUCKET, total, MiB, first=written))
            base.upload(total, first=written)
            written = total
            moves = run_cycles(rigs, total)
            small.moves[total], baseline[total] = moves["operator"], moves["node level"]
    finally:
        for c in clients.values():
            c.close()
        base.close()
    return small, ferry, baseline


@dataclass
class Large:
    """Figures of the FLEET-node cluster."""

    formed_s: float
    rss_before: dict[str, int]
    rss_formed: dict[str, int]
    rss_end: dict[str, int]
    node_rss_total: int
    node_processes: int
    hist_formation: Hist
    hist_idle: Hist
    hist_transitions: Hist
    to_maintenance: float
    to_online: float
    grown_s: float
    hist_grow: Hist


def node_processes() -> list[int]:
    """Pids of the storage-node containers' processes on the local real node (children of a containerd shim)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if b"storage_node" in cmd and b"-m" in cmd and b"containerd-shim" in parent:
            out.append(int(entry.name))
    return out


def rss_of(pids: list[int]) -> int:
    """Sum of VmRSS (bytes)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def large_cluster(kube: Cluster, op: Operator) -> Large:
    """FLEET real storage-node pods in one StorageCluster: operator memory, reconcile latency, one transition."""
    ferry = Ferry(kube.kubectl, namespace=f"{NS_PREFIX}fleet-{int(time.time()) % 100000}")
    names = [f"node-{i:03d}" for i in range(1, FLEET + 1)]
    time.sleep(3)
    rss_before = op.memory()
    h0 = scrape(op)
    print(f"{FLEET}-node cluster ...", flush=True)
    try:
        formed = create_cluster(ferry, names, FLEET_SPEC, timeout=1800)
        print(f"  formed in {formed:.1f}s", flush=True)
        h1 = scrape(op)
        rss_formed = op.memory()
        pids = node_processes()
        node_rss = rss_of(pids)
        time.sleep(6)
        idle = idle_window(op, 30)
        before = scrape(op)
        middle = names[len(names) // 2]
        down = transition(ferry, middle, "maintenance", timeout=600)
        up = transition(ferry, middle, "online", timeout=600)
        print(f"  {middle}: to maintenance {down:.2f}s, to online {up:.2f}s", flush=True)
        time.sleep(SETTLE_S)
        hist = scrape(op).minus(before)
        grown_s, grow_hist = grow(ferry, op, [f"node-{i:03d}" for i in range(FLEET + 1, FLEET + GROW + 1)])
        print(f"  {GROW} more nodes Ready in {grown_s:.1f}s", flush=True)
        rss_end = op.memory()
    finally:
        print("  tearing the large cluster down ...", flush=True)
        destroy_cluster(ferry, timeout=300)
    return Large(
        formed, rss_before, rss_formed, rss_end, node_rss, len(pids), h1.minus(h0), idle, hist, down, up, grown_s,
        grow_hist,
    )  # fmt: skip


def grow(ferry: Ferry, op: Operator, names: list[str]) -> tuple[float, Hist]:
    """New StorageNodes applied at once to a formed cluster: seconds until all are Ready, and the passes."""
    before = scrape(op)
    start = time.perf_counter()
    ferry.apply(*(node_manifest(n, ferry.cluster) for n in names))
    for n in names:
        ferry.wait_ready(n, timeout=600)
    took = time.perf_counter() - start
    time.sleep(SETTLE_S)
    return took, scrape(op).minus(before)


# ---- report -------------------------------------------------------------------------------------------------


def machine() -> str:
    """A one-paragraph description of the machine."""
    cpu, mem = hostinfo.cpu_model(), hostinfo.memory_gib()
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} vCPU ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average {load:.1f} when the run started (the machine is "
        "shared with other work). Control plane (etcd, kube-apiserver, kcm, scheduler), the real node (containerd, "
        "kubelet, kube-proxy, CoreDNS), operator, "
        "node pods, kubectl and the bench client all share these cores."
    )


def _mib(n: float) -> str:
    return f"{n / MiB:.0f} MiB"


def _ms(s: float) -> str:
    return f"{s * 1000:.0f} ms"


def _q(h: Hist, q: float) -> str:
    """A quantile estimate, or '> top bucket' when it falls in the +Inf bucket."""
    top = max((le for le in h.buckets if le != float("inf")), default=float("inf"))
    value = h.quantile(q)
    return f"> {_ms(top)}" if value >= top else _ms(value)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _runs(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def report(small: Small, large: Large, base: dict[int, Moves], started: str, host: str, wall: float) -> str:
    """The markdown file."""
    med_down, med_up = statistics.median(small.to_maintenance), statistics.median(small.to_online)
    lines = [
        "# Operator benchmark",
        "",
        f"Generated by `bench/operator_bench.py` on {started} in {wall / 60:.1f} min. Machine: {host}",
        "",
        "One run measures everything on one local Kubernetes (localkube: etcd, kube-apiserver, kcm and scheduler",
        "built from source, and one real node: containerd, runc, the kubelet and kube-proxy). The operator is",
        "`kopf run -m storage_operator --standalone` on the host; every storage node is a container of the",
        "locally built `ferry:dev` image at its pod IP on the node's bridge. Node-level baselines are",
        "`python -m storage_node` processes on the host. Ratios compare against baselines measured in the same run.",
        "",
        "## Transition overhead (3-node StorageCluster, no objects)",
        "",
        f"`{TOGGLED}` toggled {REPS} times each way. Time from starting `kubectl patch storagenode {TOGGLED}",
        "spec.state=...` to `kubectl wait --for=condition=Ready storagenode/...` returning (both are kubectl",
        "processes, as a user runs them; kubectl wait ignores a condition whose observedGeneration is older",
        "than the object's generation); after each wait the bench also checks `status.state` is the target.",
        "",
        "| transition | median | max | all runs (s) | goal |",
        "|---|---|---|---|---|",
        f"| online -> maintenance | {med_down:.2f} s | {max(small.to_maintenance):.2f} s | "
        f"{_runs(small.to_maintenance)} | median < 3 s: {_verdict(med_down < 3)} |",
        f"| maintenance -> online | {med_up:.2f} s | {max(small.to_online):.2f} s | "
        f"{_runs(small.to_online)} | median < 3 s: {_verdict(med_up < 3)} |",
        "",
        f"A node asked to leave (maintenance, shutdown, decommission) waits {LEAVE_GRACE_SECONDS:.0f} s from its",
        "patch for other nodes asked with it, so that they leave in one map version and one rebalance",
        "(batched departures, `docs/lifecycle.md`): that window is in `online -> maintenance` and in every drain",
        "below; coming back online has none.",
        "",
        f"Cluster formation (one apply of the StorageCluster and {len(NODES)} StorageNodes -> all Ready): "
        f"{small.formed_s:.1f} s.",
        "",
        f"## Rebalance throughput through the operator ({len(NODES)} nodes, 1 MiB objects)",
        "",
        f"Objects of 1 MiB are written through the nodes' data API (first {OBJECT_SETS[0]}, then more up to each",
        f"total of {', '.join(str(t) for t in OBJECT_SETS)}); at each total `{DRAINED}` is put in maintenance (its",
        f"objects move to the two others) and set back online (its share moves back), {CYCLES} cycles, each move",
        f"after {QUIET_S:.0f} s of quiet; the median cycle is reported. Operator: bytes moved / (start of",
        "`kubectl patch` -> `kubectl wait --for=condition=Ready` returned). Node-level baseline, same run,",
        "interleaved with the operator's moves under the same load (both clusters up; each move through the",
        "operator is followed by the same move at node level): three `python -m storage_node` processes with",
        "the same node ids, the pods' settings (2 mountpaths, rebalance concurrency 4, auth on) and the same object",
        "names and sizes, so HRW moves exactly the same objects; the bench installs the maps itself, on all nodes",
        "at once, and hears the end from the nodes' long poll (`GET /v1/admin/rebalance?settled=g<N>&wait=60`):",
        "push -> all done, with no control path to speak of.",
        "",
        "| objects | move | bytes moved | operator (patch -> Ready) | node level (push -> done) | ratio | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for total in OBJECT_SETS:
        op, bm = small.moves[total], base[total]
        for label, moved, secs_op, secs_base in (
            ("drain", op.drain_bytes, op.drain_s, bm.drain_s),
            ("refill", op.fill_bytes, op.fill_s, bm.fill_s),
        ):
            rate_op, rate_base = op.rate(label), bm.rate(label)
            target = "maintenance" if label == "drain" else "online"
            lines.append(
                f"| {total} | {label} (`{DRAINED}` -> {target}) | {_mib(moved)} | {rate_op / MiB:.0f} MiB/s "
                f"({statistics.median(secs_op):.2f} s; runs {_runs(secs_op)}) | {rate_base / MiB:.0f} MiB/s "
                f"({statistics.median(secs_base):.2f} s; runs {_runs(secs_base)}) | {rate_op / rate_base:.0%} | "
                f">= 80%: {_verdict(rate_op >= 0.8 * rate_base)} |"
            )
    lines += [
        "",
        "Where the time goes, from the nodes' own rebalance records (`started_at` of the first node to",
        "`finished_at` of the last): the data movement itself, and the control path around it. Through the",
        "operator that is kubectl patch, the watch event, a reconcile pass (map recorded in the API, pushed to",
        "the nodes), the nodes' completion notices (long poll), the pass that finishes the transition and writes",
        "the statuses, and kubectl wait noticing the condition; at node level, the map pushes and the answers.",
        "",
        "| objects | move (median cycle) | operator: total | data movement | control path "
        "| node level: total | data movement | control path |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for total in OBJECT_SETS:
        op, bm = small.moves[total], base[total]
        for label, a_s, a_data, b_s, b_data in (
            ("drain", op.drain_s, op.data_drain_s, bm.drain_s, bm.data_drain_s),
            ("refill", op.fill_s, op.data_fill_s, bm.fill_s, bm.data_fill_s),
        ):
            ta, da = statistics.median(a_s), statistics.median(a_data)
            tb, db = statistics.median(b_s), statistics.median(b_data)
            lines.append(
                f"| {total} | {label} | {ta:.2f} s | {da:.2f} s | {ta - da:.2f} s "
                f"| {tb:.2f} s | {db:.2f} s | {tb - db:.2f} s |"
            )
    lh = large.hist_transitions
    form = large.hist_formation
    lines += [
        "",
        f"## {FLEET} StorageNodes",
        "",
        f"One StorageCluster with {FLEET} StorageNodes (one apply), each a real `python -m storage_node` pod",
        f"(the only reduced setting: 1 mountpath per node instead of 2). {large.node_processes} node processes",
        f"were running, {_mib(large.node_rss_total)} RSS in total. A fresh operator process serves this",
        "cluster alone (the 3-node cluster was decommissioned and its operator stopped before).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| formation: apply -> all {FLEET} nodes Ready | {large.formed_s:.1f} s |",
        f'| nodes in the first map ("cluster formed") / joined afterwards | '
        f"{FLEET - form.joins:.0f} / {form.joins:.0f} |",
        "| global rebalances of those later joins (new nodes join in batches) / mean duration (no data; "
        f"`ferry_rebalance_duration_seconds`) | {form.rebalances:.0f} / "
        f"{form.rebalance_s / form.rebalances if form.rebalances else float('nan'):.1f} s |",
        f"| operator RSS before the cluster existed | {_mib(large.rss_before['VmRSS'])} |",
        f"| operator RSS with {FLEET} nodes formed | {_mib(large.rss_formed['VmRSS'])} |",
        f"| operator RSS at the end / peak (VmHWM) | {_mib(large.rss_end['VmRSS'])} / {_mib(large.rss_end['VmHWM'])} |",
        f"| for comparison, operator RSS / peak with the 3-node cluster (first process) | "
        f"{_mib(small.rss['VmRSS'])} / {_mib(small.rss['VmHWM'])} |",
        f"| online -> maintenance of one node (patch -> Ready) | {large.to_maintenance:.2f} s |",
        f"| maintenance -> online of that node (patch -> Ready) | {large.to_online:.2f} s |",
        f"| {GROW} more StorageNodes applied at once (one `kubectl apply`) -> all Ready | {large.grown_s:.1f} s, "
        f"{large.hist_grow.joins:.0f} joins in {large.hist_grow.rebalances:.0f} global rebalance(s) |",
        "",
        "Reconcile latency: the operator's `ferry_reconcile_duration_seconds` histogram (one observation per",
        "reconcile pass of a StorageCluster), scraped before and after each window; p50/p90 are interpolated",
        "inside the default Prometheus buckets (.005 ... 10 s), so they are estimates; the mean is exact.",
        "StorageNode events: watch events of StorageNodes the operator handled in the window (its",
        "`node_event` handler's log lines), i.e. mostly the status patches of its own passes.",
        "",
        "| cluster | window | passes | mean | p50 (est.) | p90 (est.) | StorageNode events per pass |",
        "|---|---|---|---|---|---|---|",
    ]
    windows = [
        (f"{len(NODES)} nodes", "idle, 20 s", small.hist_idle),
        (f"{len(NODES)} nodes", f"{2 * REPS} no-data transitions", small.hist_transitions),
        (f"{FLEET} nodes", "formation", form),
        (f"{FLEET} nodes", "idle, 30 s", large.hist_idle),
        (f"{FLEET} nodes", "2 no-data transitions (maintenance, online)", lh),
    ]
    for cluster, window, h in windows:
        per = h.node_events / h.count if h.count else float("nan")
        lines.append(
            f"| {cluster} | {window} | {h.count:.0f} | {_ms(h.mean())} | {_q(h, 0.5)} | {_q(h, 0.9)} | {per:.1f} |"
        )
    ratio = lh.mean() / small.hist_transitions.mean()
    lines += [
        "",
        f"Mean pass during transitions, {FLEET} nodes vs. {len(NODES)} nodes: {ratio:.1f}x. A pass lists the",
        "cluster's StorageNodes, pods and PVCs (concurrently), asks every node for its status (concurrently, over",
        "kept-alive connections) and patches the statuses that changed (up to 16 at once), so its cost grows with",
        "the node count. Passes run every 0.25 s while something other than a rebalance is in progress, every 1 s",
        "while only a rebalance runs (the nodes announce its end through their long poll, which starts a pass at",
        "once), every 5 s otherwise, and at once on a StorageNode or pod event.",
        "",
        "Reproduce: `.venv/bin/python bench/operator_bench.py` (env `FERRY_BENCH_OP_OBJECTS`: the object totals,",
        "comma-separated; `_REPS`, `_CYCLES`, `_FLEET`, `_GROW`: the repetitions, the drain/refill cycles, the size of",
        "the large cluster and how many nodes are added to it). Operator logs are kept in",
        "`$TMPDIR/ferry-opbench-logs/`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run every measurement and write the report."""
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    host = machine()
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ferry-opbench-"))
    kube = Cluster(root / "kube")
    ops: list[Operator] = []
    try:
        print("local cluster ...", flush=True)
        kube.up(bin_dir=binaries.ensure())
        kube.kubectl("apply", "-f", str(REPO / "crds"))
        kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        env = {**kube.env, processes.MARKER: str(kube.root)}  # down() would sweep it if the bench died
        ops.append(Operator(env, root / "operator-1.log"))
        ops[-1].start()
        small, ferry, base = small_cluster(kube, ops[-1], root / "baseline")
        destroy_cluster(ferry)
        ops[-1].stop()
        ops.append(Operator(env, root / "operator-2.log"))
        ops[-1].start()
        large = large_cluster(kube, ops[-1])
        ops[-1].stop()
    finally:
        for op in ops:
            op.stop()
        kube.down()
        left = kube.leftovers()
        logs = [p for p in root.glob("operator-*.log")]
        keep = Path(tempfile.gettempdir()) / "ferry-opbench-logs"
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir()
        for p in logs:
            shutil.copy(p, keep / p.name)
        shutil.rmtree(root, ignore_errors=True)
    if left:
        raise RuntimeError(f"processes of the bench cluster still alive: {left}")
    text = report(small, large, base, started, host, time.monotonic() - t0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    print(f"wrote {OUT}; operator logs in {keep}")


if __name__ == "__main__":
    main()
