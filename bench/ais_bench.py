"""Data-path benchmark: one Ferry node (uvicorn, and Granian) beside AIStore, the same wrk client, rotated rounds."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import aisprocs
import hostinfo
import httpx
import node_bench
import nodeprocs
import wrkrun
from storage_node.client import SyncNodeClient

KiB, MiB = 1 << 10, 1 << 20
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "datapath.md"
MIX_OBJECTS = int(os.environ.get("FERRY_BENCH_MIX_OBJECTS", "100000"))  # x 4 KiB, on each system
ROUNDS = int(os.environ.get("FERRY_BENCH_ROUNDS", "2"))  # per row and system
ROUND_S = float(os.environ.get("FERRY_BENCH_ROUND_SECONDS", "5"))
HOT_OBJECTS = 1000  # the small-GET rows cycle the first this many of the mix's objects
PUT_WRAP_1M = 32  # 1 MiB PUT: names cycled per wrk thread (overwrites), so the disk use stays bounded
BUCKET = "bench"
SERVER_PACKAGES = ("uvicorn", "httptools", "uvloop", "granian")
# Which servers of the node to measure: uvicorn (`python -m storage_node`, always) and granian (FERRY_BENCH_SERVERS
# =uvicorn leaves Granian out, for quick runs).
SERVERS = {s.strip() for s in os.environ.get("FERRY_BENCH_SERVERS", "uvicorn,granian").split(",") if s.strip()}
FERRY, GRANIAN, AIS = "Ferry", "Ferry on Granian (ASGI)", "AIStore"
GRANIAN_FLAGS = ("--interface", "asgi", "--loop", "uvloop", "--workers", "1", "--no-ws", "--log-level", "warning")
GRANIAN_KILL_S = 5  # Granian's main process kills a worker that has not stopped this long after SIGTERM
NODE_ARGS_VARIABLE = "FERRY_NODE_ARGS"  # read by bench/granian_node.py (not imported here: it builds the app)


@dataclass(frozen=True)
class ObjectSet:
    """Objects uploaded to both systems before the rounds: <prefix>000000 on, `size` bytes each."""

    prefix: str
    count: int
    size: int
    connections: int  # of the upload

    def names(self, limit: int = 0) -> list[str]:
        """The objects' names (the first `limit` only, if given)."""
        return [f"{self.prefix}{i:06d}" for i in range(min(limit, self.count) if limit else self.count)]


SETS = {
    "mix": ObjectSet("m", MIX_OBJECTS, 4 * KiB, 16),
    "mib": ObjectSet("k", 64, MiB, 8),
    "big": ObjectSet("g", 4, 64 * MiB, 2),
}


@dataclass(frozen=True)
class Row:
    """One row of the table: one kind of request at one concurrency."""

    key: str
    label: str
    method: str  # GET or PUT
    size: int
    connections: int
    objects: str = ""  # GET: the uploaded set it cycles
    first: int = 0  # GET: only the first this many objects of the set (0: all)
    wrap: int = 0  # PUT: names cycled per wrk thread (0: a new object every request)

    @property
    def threads(self) -> int:
        """wrk threads: one per core, never more than connections."""
        return min(2, self.connections)

    @property
    def big(self) -> bool:
        """Whether the row's throughput is worth stating in MiB/s."""
        return self.size >= MiB


ROWS = (
    Row("get4k_c1", "4 KiB GET, 1 connection", "GET", 4 * KiB, 1, "mix", HOT_OBJECTS),
    Row("get4k_c16", "4 KiB GET, 16 connections", "GET", 4 * KiB, 16, "mix", HOT_OBJECTS),
    Row("put4k_c1", "4 KiB PUT, 1 connection", "PUT", 4 * KiB, 1),
    Row("put4k_c16", "4 KiB PUT, 16 connections", "PUT", 4 * KiB, 16),
    Row("get1m_c16", "1 MiB GET, 16 connections", "GET", MiB, 16, "mib"),
    Row("put1m_c16", "1 MiB PUT, 16 connections", "PUT", MiB, 16, wrap=PUT_WRAP_1M),
    Row("get64m_c4", "64 MiB GET, 4 connections", "GET", 64 * MiB, 4, "big"),
    Row("mix4k_c16", f"4 KiB GET mix over {MIX_OBJECTS:,} objects, 16 connections", "GET", 4 * KiB, 16, "mix"),
)


@dataclass(frozen=True)
class System:
    """A system under load: where wrk sends its requests and which processes serve them."""

    name: str
    base_url: str
    pids: tuple[int, ...]
    put_query: str = ""  # appended to every PUT (AIStore: the proxy's redirect marker)

    def path(self, name: str) -> str:
        """The request path of an object of the benchmark's bucket."""
        return f"/v1/objects/{BUCKET}/{name}"


@dataclass(frozen=True)
class Round:
    """One round of a row against one system."""

    wrk: wrkrun.WrkResult
    others_cores: float  # CPU every other process on the machine used meanwhile, in cores


Results = dict[str, dict[str, list[Round]]]  # row key -> system name -> the rounds in the order run


# ---- processes ------------------------------------------------------------------------------------------


def stop_tree(proc: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    """SIGTERM a process by its pid, SIGKILL it after `grace_s`; then SIGKILL, by pid, what it had started and left.

    Granian's worker is its main process's child: a main process killed before its worker stopped would leave the
    worker serving. Each pid is checked to be the same process (its start time) before it is signalled.
    """
    below = {pid: wrkrun.start_ticks(pid) for pid in wrkrun.descendants([proc.pid]) - {proc.pid}}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    left = [pid for pid, started in below.items() if started is not None and wrkrun.start_ticks(pid) == started]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5  # (no longer our children: init reaps them)
    while any(wrkrun.start_ticks(pid) == below[pid] for pid in left) and time.monotonic() < deadline:
        time.sleep(0.05)


def start_granian_node(root: Path, node_id: str, index: int) -> nodeprocs.Proc:
    """A node served by Granian (bench/granian_node.py), with the flags `node_bench.start_node` gives; when ready."""
    host = f"127.0.{200 + index % 50}.{10 + index}"
    port = nodeprocs.free_port(host)
    node_args = ["--node-id", node_id, "--listen", f"{host}:{port}", "--log-level", "warning"]
    node_args += ["--mountpath", str(root / node_id / "mp0"), "--state-dir", str(root / node_id / "state")]
    args = [sys.executable, "-m", "granian", *GRANIAN_FLAGS, "--workers-kill-timeout", str(GRANIAN_KILL_S)]
    args += ["--host", host, "--port", str(port), "granian_node:app"]
    path = os.pathsep.join(p for p in (str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "FERRY_AUTH_SECRET": node_bench.SECRET, NODE_ARGS_VARIABLE: shlex.join(node_args)}
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{node_id}.log", "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**env, "PYTHONPATH": path})
    try:
        return nodeprocs.ready(node_id, f"http://{host}:{port}", proc, 30)
    except BaseException:
        stop_tree(proc)
        raise


@contextlib.contextmanager
def one_node(node: nodeprocs.Proc, name: str) -> Iterator[System]:
    """A started node given a one-node map and the bucket; stopped by pid (and what it started) on the way out."""
    try:
        node_bench.push([node], node_bench.make_map([node], 1, {}))
        node_bench.wait_done([node], "g1")
        with SyncNodeClient(node.url, secret=node_bench.SECRET) as c:
            c.create_bucket(BUCKET)
        yield System(name, node.url, (node.proc.pid,))
    finally:
        stop_tree(node.proc)


@contextlib.contextmanager
def ferry(root: Path) -> Iterator[System]:
    """One Ferry node as it runs (`python -m storage_node`: uvicorn with httptools and uvloop)."""
    with one_node(node_bench.start_node(root, "f0", 0), FERRY) as system:
        yield system


@contextlib.contextmanager
def ferry_granian(root: Path) -> Iterator[System]:
    """One Ferry node, the same app, served by Granian's ASGI interface (one worker, uvloop)."""
    with one_node(start_granian_node(root, "g0", 1), GRANIAN) as system:
        yield system


@contextlib.contextmanager
def aistore(root: Path) -> Iterator[System]:
    """AIStore's proxy and target with the bucket; GETs and PUTs go straight to the target (see the report)."""
    with aisprocs.cluster(root, bucket=BUCKET) as ais:
        yield System(AIS, ais.target.url, tuple(ais.pids), ais.put_redirect_query)


def upload(system: System, objects: ObjectSet) -> float:
    """PUT every object of the set once (wrk), then read the first and last back; the upload's seconds."""
    names = objects.names()
    start = time.perf_counter()
    wrkrun.run_put_list(
        system.base_url,
        [system.path(n) for n in names],
        os.urandom(objects.size),
        query=system.put_query,
        connections=objects.connections,
    )
    elapsed = time.perf_counter() - start
    with httpx.Client(timeout=120) as http:
        for name in {names[0], names[-1]}:
            r = http.get(system.base_url + system.path(name))
            if r.status_code != 200 or len(r.content) != objects.size:
                raise RuntimeError(f"{system.name} {name}: {r.status_code}, {len(r.content)} bytes after the upload")
    return elapsed


def upload_all(systems: list[System]) -> dict[str, float]:
    """Upload every set to every system; seconds per `<system> <set>`."""
    took: dict[str, float] = {}
    for key, objects in SETS.items():
        for system in systems:
            print(f"upload {objects.count} x {objects.size // KiB} KiB to {system.name} ...", flush=True)
            took[f"{system.name} {key}"] = upload(system, objects)
            print(f"  {took[f'{system.name} {key}']:.1f}s", flush=True)
    return took


# ---- rounds ---------------------------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting for I/O) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # user..steal less idle, iowait


def run_wrk(system: System, row: Row, round_no: int) -> wrkrun.WrkResult:
    """One wrk run of `ROUND_S` seconds of the row against the system."""
    if row.method == "GET":
        paths = [system.path(n) for n in SETS[row.objects].names(row.first)]
        return wrkrun.run_get(
            system.base_url,
            paths,
            threads=row.threads,
            connections=row.connections,
            seconds=ROUND_S,
            server_pids=system.pids,
        )
    return wrkrun.run_put(
        system.base_url,
        system.path(f"{row.key}-r{round_no}-"),
        os.urandom(row.size),
        query=system.put_query,
        wrap=row.wrap,
        threads=row.threads,
        connections=row.connections,
        seconds=ROUND_S,
        server_pids=system.pids,
    )


def measure(system: System, row: Row, round_no: int) -> Round:
    """A round, with the CPU the rest of the machine used meanwhile."""
    busy0, t0 = machine_busy_s(), time.perf_counter()
    r = run_wrk(system, row, round_no)
    others = machine_busy_s() - busy0 - r.server_cpu_s - r.client_cpu_s
    return Round(r, max(others, 0.0) / (time.perf_counter() - t0))


def rotation(systems: list[System], row_no: int, round_no: int) -> list[System]:
    """The order of one round: rotated by one each round, and each row starts one further on (A B C, B C A, ...)."""
    k = (row_no + round_no) % len(systems)
    return systems[k:] + systems[:k]


def run_rounds(systems: list[System]) -> Results:
    """Every row: ROUNDS rounds per system, in a rotated order (see `rotation`)."""
    results: Results = {row.key: {s.name: [] for s in systems} for row in ROWS}
    width = max(len(s.name) for s in systems)
    for row_no, row in enumerate(ROWS):
        for round_no in range(ROUNDS):
            for system in rotation(systems, row_no, round_no):
                one = measure(system, row, round_no)
                results[row.key][system.name].append(one)
                r = one.wrk
                print(
                    f"{row.label:52s} {system.name:{width}s} round {round_no + 1}: {r.requests_per_s:8.1f} req/s, "
                    f"server {r.server_us_per_request:5.0f} us/req, wrk {r.client_us_per_request:4.0f} us/req, "
                    f"errors {r.error_count}, load1 {r.load1_before:.2f}, others {one.others_cores:.2f} cores",
                    flush=True,
                )
    return results


def best(runs: list[Round]) -> wrkrun.WrkResult:
    """The round with the highest request rate (the figure the table reports, with that round's CPU and load)."""
    return max((r.wrk for r in runs), key=lambda r: r.requests_per_s)


# ---- checks and figures ---------------------------------------------------------------------------------


def short_reads(row: Row, runs: list[Round]) -> int:
    """GET rounds whose bytes read fall short of requests x object size (a redirect or short answer)."""
    if row.method != "GET":
        return 0
    return sum(1 for r in runs if r.wrk.bytes_read < r.wrk.requests * row.size)


def own_cores(r: wrkrun.WrkResult) -> float:
    """Cores the servers and wrk together kept busy during a run."""
    return (r.server_cpu_s + r.client_cpu_s) / max(r.seconds, 1e-9)


def rate(value: float) -> str:
    """A request rate: whole numbers, one decimal below 100."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def mib_s(row: Row, r: wrkrun.WrkResult) -> str:
    """Object bytes moved per second, for the rows of large objects."""
    return f"{r.requests_per_s * row.size / MiB:.0f}" if row.big else ""


def table(results: Results, a: str, b: str) -> list[str]:
    """The main table: the best round of each system per row."""
    lines = [
        f"| row | {a} req/s | {b} req/s | {a}/{b} | {a} MiB/s | {b} MiB/s | server CPU µs/req {a} / {b} "
        f"| wrk CPU µs/req {a} / {b} | errors {a} / {b} (all rounds) | load1 before {a} / {b} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        runs = results[row.key]
        x, y = best(runs[a]), best(runs[b])
        errors = [sum(r.wrk.error_count for r in runs[s]) for s in (a, b)]
        lines.append(
            f"| {row.label} | {rate(x.requests_per_s)} | {rate(y.requests_per_s)} | "
            f"{ratio(results, row, a, b):.2f}x | {mib_s(row, x)} | {mib_s(row, y)} | "
            f"{x.server_us_per_request:.0f} / {y.server_us_per_request:.0f} | "
            f"{x.client_us_per_request:.0f} / {y.client_us_per_request:.0f} | {errors[0]} / {errors[1]} | "
            f"{x.load1_before:.2f} / {y.load1_before:.2f} |"
        )
    return lines


def rounds_table(results: Results, a: str, b: str) -> list[str]:
    """Every round's rate and the other processes' CPU in the order run, and the best rounds' latency."""
    lines = [
        f"| row | {a} req/s, each round | {b} req/s, each round | other processes' cores during {a} / {b} rounds "
        f"| {a} p50 / p99 µs | {b} p50 / p99 µs |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        runs = results[row.key]
        each = [" / ".join(rate(r.wrk.requests_per_s) for r in runs[s]) for s in (a, b)]
        others = [" / ".join(f"{r.others_cores:.2f}" for r in runs[s]) for s in (a, b)]
        lat = [f"{best(runs[s]).latency_us['p50']} / {best(runs[s]).latency_us['p99']}" for s in (a, b)]
        lines.append(f"| {row.label} | {each[0]} | {each[1]} | {others[0]}; {others[1]} | {lat[0]} | {lat[1]} |")
    return lines


def ratio(results: Results, row: Row, a: str, b: str) -> float:
    """a's best request rate over b's, on the row."""
    return best(results[row.key][a]).requests_per_s / best(results[row.key][b]).requests_per_s


def _labels(rows: list[tuple[Row, float]]) -> str:
    return "; ".join(f"{row.label} ({ratio:.2f}x)" for row, ratio in rows) or "none"


def _span(values: list[float]) -> str:
    return f"{min(values):.2f} to {max(values):.2f}"


def reading(results: Results, a: str, b: str) -> list[str]:
    """The paragraph that reads the table, every statement computed from this run's figures."""
    ratios = [(row, ratio(results, row, a, b)) for row in ROWS]
    met = [(row, q) for row, q in ratios if q >= 1.0]
    missed = [(row, q) for row, q in ratios if q < 1.0]
    cpu = [best(results[r.key][a]).server_us_per_request / best(results[r.key][b]).server_us_per_request for r in ROWS]
    every = [r for row in ROWS for s in (a, b) for r in results[row.key][s]]
    wrk_share = max(r.wrk.client_cpu_s / max(r.wrk.client_cpu_s + r.wrk.server_cpu_s, 1e-9) for r in every)
    own = {s: [own_cores(best(results[row.key][s])) for row in ROWS] for s in (a, b)}
    errors = sum(r.wrk.error_count for r in every)
    shorts = sum(short_reads(row, results[row.key][s]) for row in ROWS for s in (a, b))
    others = [r.others_cores for r in every]
    return [
        f"- {a} reaches at least 1.0x {b} on {len(met)} of {len(ROWS)} rows: {_labels(met)}.",
        f"- Below 1.0x: {_labels(missed)}.",
        f"- Server CPU per request, {a} over {b}: {min(cpu):.1f}x to {max(cpu):.1f}x across the rows (best rounds).",
        f"- wrk's own CPU was at most {wrk_share:.0%} of a request's CPU (server plus client) in any round.",
        f"- The servers and wrk together used {_span(own[a])} of the {os.cpu_count()} cores in {a}'s best rounds "
        f"and {_span(own[b])} in {b}'s; other processes on the shared machine used {_span(others)} "
        "cores during the rounds.",
        f"- Load average (1 min) before a round: {_span([r.wrk.load1_before for r in every])}.",
        f"- Failed requests (socket errors, timeouts, status >= 400) over all {len(every)} rounds: {errors}; GET "
        f"rounds that read fewer bytes than requests x object size (a redirect or short answer): {shorts}.",
    ]


def server_choices(results: Results, uvi: str, gra: str | None) -> list[str]:
    """The same rows for the node's servers: uvicorn (as the node runs) against Granian's ASGI interface."""
    if gra is None:
        return [
            "Granian was left out of this run (FERRY_BENCH_SERVERS=uvicorn): only uvicorn with httptools and uvloop, "
            "the node's server, was measured.",
        ]
    lines = [
        f"The node's app (`storage_node.app.create_app`, the same flags) under two servers, measured in the same "
        f"rotated rounds as the table above: **{uvi}** is `python -m storage_node` (uvicorn with httptools and "
        f"uvloop, the node's own connection guard), **{gra}** is `python -m granian {' '.join(GRANIAN_FLAGS)} "
        "granian_node:app` (`bench/granian_node.py`; server CPU counts Granian's main process and its worker). "
        "Best round of each, with that round's server CPU; errors sum all rounds.",
        "",
        "| row | uvicorn req/s | uvicorn server CPU µs/req | Granian req/s | Granian server CPU µs/req "
        "| Granian/uvicorn | req/s each round, uvicorn; Granian | errors uvicorn / Granian |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        runs = results[row.key]
        x, y = best(runs[uvi]), best(runs[gra])
        each = "; ".join(" / ".join(rate(r.wrk.requests_per_s) for r in runs[s]) for s in (uvi, gra))
        errors = " / ".join(str(sum(r.wrk.error_count for r in runs[s])) for s in (uvi, gra))
        lines.append(
            f"| {row.label} | {rate(x.requests_per_s)} | {x.server_us_per_request:.0f} | {rate(y.requests_per_s)} "
            f"| {y.server_us_per_request:.0f} | {ratio(results, row, gra, uvi):.2f}x | {each} | {errors} |"
        )
    ratios = [(row, ratio(results, row, gra, uvi)) for row in ROWS]
    faster = [(row, q) for row, q in ratios if q > 1.0]
    slower = [(row, q) for row, q in ratios if q <= 1.0]
    cpu = [
        best(results[r.key][gra]).server_us_per_request / best(results[r.key][uvi]).server_us_per_request for r in ROWS
    ]
    spread = [row for row, q in ratios if abs(q - 1.0) <= max(_round_spread(results[row.key][s]) for s in (uvi, gra))]
    return [
        *lines,
        "",
        f"- Granian (ASGI) is faster than uvicorn on {len(faster)} of {len(ROWS)} rows: {_labels(faster)}; "
        f"uvicorn is as fast or faster on {len(slower)}: {_labels(slower)}.",
        f"- Server CPU per request, Granian over uvicorn: {min(cpu):.2f}x to {max(cpu):.2f}x across the rows "
        "(best rounds).",
        f"- Rows where the two differ by no more than one server's own spread between its rounds (best over worst "
        f"round, minus 1): {len(spread)} of {len(ROWS)}"
        + (f" ({'; '.join(r.label for r in spread)})" if spread else "")
        + (" (one round each: no spread to compare)" if ROUNDS == 1 else "")
        + ".",
        "- Granian's RSGI interface is not measured: the node's app is ASGI only, and RSGI would need a second "
        "front end over the data-path core.",
        "- Under Granian the node runs without `storage_node.serving`'s guard (a uvicorn protocol: header deadline "
        "and size limit, connection cap); Granian's own HTTP/1 header read timeout (30 s by default) applies instead.",
    ]


def _round_spread(runs: list[Round]) -> float:
    rates = [r.wrk.requests_per_s for r in runs]
    return max(rates) / max(min(rates), 1e-9) - 1.0


# ---- report ---------------------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} not installed"


def wrk_version() -> str:
    """wrk's version line, without the copyright."""
    out = subprocess.run([wrkrun.wrk_binary(), "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].split(" Copyright")[0].strip() if out else "wrk (version unknown)"


def fs_type(path: Path) -> str:
    """The type of the filesystem holding `path`."""
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


@dataclass(frozen=True)
class RunInfo:
    """What the report's header states about the run."""

    started: str
    minutes: float  # start to finish: startup, uploads, rounds, stopping both systems and removing their data
    data_root: Path
    data_fs: str
    node_processes: int
    granian_processes: int  # 0: Granian not measured
    uploads: dict[str, float]


def header(info: RunInfo) -> list[str]:
    """Title, machine and how the run was made."""
    mix = {k.removesuffix(" mix"): s for k, s in info.uploads.items() if k.endswith(" mix")}
    mix_up = [f"{name} {SETS['mix'].count / s:.0f}/s" for name, s in mix.items()]
    return [
        "# Data path beside AIStore",
        "",
        f"Generated by `bench/ais_bench.py` on {info.started}; the whole run (startup, uploads, rounds, "
        f"teardown) took {info.minutes:.1f} min. Machine: "
        f"{os.cpu_count()} vCPU ({hostinfo.cpu_model()}), {hostinfo.memory_gib():.0f} GiB RAM, Linux "
        f"{platform.release()}, Python {platform.python_version()}; every system's data on {info.data_fs} "
        f"under {info.data_root.parent}, page cache warm; servers and client share the same cores.",
        "",
        "How it was run:",
        "",
        "- Everything in a network namespace of the benchmark's own (`unshare --net`, `lo` up with 127.0.0.1 and "
        "127.0.0.2): nothing listens outside it.",
        f"- Ferry: one node, `python -m storage_node` ({info.node_processes} "
        f"{'process' if info.node_processes == 1 else 'processes'} at the end of the run; "
        f"{', '.join(_version(p) for p in SERVER_PACKAGES)}), default settings (fsync off), a one-node map.",
        *(
            [
                f"- {GRANIAN}: the same node (same flags, its own data directory, its own one-node map and objects) "
                f"served by `python -m granian {' '.join(GRANIAN_FLAGS)} --workers-kill-timeout {GRANIAN_KILL_S} "
                f"granian_node:app` ({info.granian_processes} processes at the end of the run: Granian's main "
                "process and its worker); measured for the server choices below, not in the main table.",
            ]
            if info.granian_processes
            else []
        ),
        f"- AIStore: `aisnode` {aisprocs.AIS_VERSION} built by `hack/ais/build.sh` (tags `mono`), 1 proxy + 1 "
        "target, one test mountpath on the same filesystem. GETs and PUTs go straight to the target: wrk does not "
        "follow redirects, and the proxy answers a GET with 301 and a PUT with 307 to the target. The target "
        "serves a GET itself (no AuthN, no request signing) and accepts a PUT carrying the marker of a real "
        "proxy redirect taken at startup, so AIStore's rows are the request a redirect-following client sends "
        "second, without the proxy's hop. The server CPU counts both aisnode processes.",
        f"- Client: {wrk_version()}, one thread per connection up to 2 threads, {ROUND_S:g} s a round, "
        f"{ROUNDS} rounds per row and system, the systems' order rotated by one each round and each row starting one "
        "further on (A B C, B C A, ...). The table gives the best round (highest "
        "req/s) of each system, with that round's CPU and load; the errors column sums all rounds.",
        f"- Objects uploaded to every system first (wrk PUTs, each name once): {SETS['mix'].count:,} x 4 KiB "
        f"({', '.join(mix_up)}), {SETS['mib'].count} x 1 MiB, {SETS['big'].count} x 64 MiB. The small-GET rows "
        f"cycle the first {HOT_OBJECTS:,} of the 4 KiB objects, the mix row all of them. 4 KiB PUTs create a new "
        f"object every request; 1 MiB PUTs cycle {PUT_WRAP_1M} names per wrk thread (overwrites) to bound the "
        "disk used.",
        "- CPU: user+sys of the server processes and of wrk over the round, divided by the requests completed.",
        "",
    ]


def write_report(results: Results, info: RunInfo, a: str, b: str, granian: str | None) -> None:
    """Write docs/benchmarks/datapath.md."""
    lines = [
        *header(info),
        "## Results",
        "",
        *table(results, a, b),
        "",
        "Every round:",
        "",
        *rounds_table(results, a, b),
        "",
        "## Reading the figures",
        "",
        *reading(results, a, b),
        "",
        "## Server choices",
        "",
        *server_choices(results, a, granian),
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}")


def main() -> None:
    """Start the systems, upload, run the rotated rounds and write the report."""
    if SERVERS - {"uvicorn", "granian"} or "uvicorn" not in SERVERS:
        raise SystemExit(f"FERRY_BENCH_SERVERS: uvicorn, optionally with granian (comma-separated), not {SERVERS}")
    aisprocs.enter_private_netns()
    started, t0 = time.strftime("%Y-%m-%d %H:%M %Z"), time.monotonic()
    print("aisnode:", aisprocs.aisnode_binary(), flush=True)
    root = Path(tempfile.mkdtemp(prefix="ferry-ais-bench-", dir="/tmp"))
    data_fs = fs_type(root)
    try:
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(ferry(root / "ferry"))
            g = stack.enter_context(ferry_granian(root / "granian")) if "granian" in SERVERS else None
            ais = stack.enter_context(aistore(root))
            systems = [f, *([g] if g else []), ais]
            uploads = upload_all(systems)
            results = run_rounds(systems)
            node_processes = len(wrkrun.descendants(f.pids))
            granian_processes = len(wrkrun.descendants(g.pids)) if g else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    info = RunInfo(started, (time.monotonic() - t0) / 60, root, data_fs, node_processes, granian_processes, uploads)
    write_report(results, info, f.name, ais.name, g.name if g else None)


if __name__ == "__main__":
    main()
