"""Redundancy benchmark: the data path with K = 1, 2, 3 copies, rebuilding a lost node, copies moved on a join.

Writes docs/benchmarks/redundancy.md. Every figure with a baseline is a ratio to it, measured in the same run:
the data path with K copies against K = 1; a lost node's rebuild against a planned departure of the same node
with K = 1 (the rebalance throughput of the node benchmark's kind); copies moved against the HRW minimum.
Run: ``.venv/bin/python bench/redundancy_bench.py`` (or ``make bench``).
  FERRY_BENCH_RED_OBJECTS (default 1500) objects of 64 KiB for the rebuild and the join.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
import nodeprocs
from node_bench import SECRET, machine, push, start_node, wait_done
from storage_node import maps
from storage_node.client import SyncNodeClient
from storage_node.schemas import ClusterMap, NodeEntry, NodeFlag

MiB = 1 << 20
OBJECTS = int(os.environ.get("FERRY_BENCH_RED_OBJECTS", "1500"))
SIZE = 64 << 10
SECONDS = 5.0  # each request-rate measurement
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "redundancy.md"


def a_map(
    nodes: list[nodeprocs.Proc], version: int, copies: int, flags: dict[str, list[NodeFlag]] | None = None
) -> ClusterMap:
    """A map of `nodes` holding `copies` copies, rebalance id g<version>."""
    flags = flags or {}
    entries = {n.id: NodeEntry(id=n.id, url=n.url, flags=flags.get(n.id, [])) for n in nodes}
    return ClusterMap(version=version, rebalance_id=f"g{version}", nodes=entries, copies=copies)


def cluster(root: Path, tag: str, count: int, copies: int) -> list[nodeprocs.Proc]:
    """`count` nodes holding `copies` copies (map g1), bucket `bench` created."""
    nodes = [start_node(root / tag, f"{tag}{i}", i) for i in range(count)]
    push(nodes, a_map(nodes, 1, copies))
    wait_done(nodes, "g1")
    with SyncNodeClient(nodes[0].url, secret=SECRET) as c:
        c.create_bucket("bench")
    return nodes


async def _rate(urls: list[str], method: str, size: int, names: int, seconds: float, conc: int) -> tuple[float, float]:
    """(requests/s, bytes/s) of `method` on objects o000000.., each request to the next node, for `seconds`."""
    data = os.urandom(size) if method == "PUT" else b""
    done = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conc * len(urls))
    async with httpx.AsyncClient(follow_redirects=True, timeout=120, limits=limits) as http:

        async def worker(w: int) -> None:
            nonlocal done
            i = w
            while time.perf_counter() < stop_at:
                url = f"{urls[i % len(urls)]}/v1/objects/bench/o{i % names:06d}"
                r = await http.request(method, url, content=data if method == "PUT" else None)
                r.raise_for_status()
                done += 1
                i += conc

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(conc)))
        took = time.perf_counter() - start
    return done / took, done * size / took


def data_path(root: Path, copies: int) -> dict[str, float]:
    """4 KiB PUT and GET rates and 1 MiB PUT and GET throughput on three nodes holding `copies` copies."""
    nodes = cluster(root, f"k{copies}-", 3, copies)
    urls = [n.url for n in nodes]
    out: dict[str, float] = {}
    try:
        asyncio.run(nodeprocs.upload(urls, "bench", 2000, 4096))
        out["put4k"], _ = asyncio.run(_rate(urls, "PUT", 4096, 2000, SECONDS, 8))
        out["get4k"], _ = asyncio.run(_rate(urls, "GET", 4096, 2000, SECONDS, 8))
        asyncio.run(nodeprocs.upload(urls, "bench", 64, MiB, concurrency=4, prefix="m"))
        _, out["put1m"] = asyncio.run(_rate(urls, "PUT", MiB, 64, SECONDS, 4))
        _, out["get1m"] = asyncio.run(_rate(urls, "GET", MiB, 64, SECONDS, 4))
        return out
    finally:
        nodeprocs.stop(nodes)


def _received(nodes: list[nodeprocs.Proc]) -> tuple[int, int]:
    objects = size = 0
    for n in nodes:
        with SyncNodeClient(n.url, secret=SECRET) as c:
            st = c.rebalance_status()
        objects, size = objects + st.objects_received, size + st.bytes_received
    return objects, size


def rebuild(root: Path) -> dict[str, float]:
    """K = 2 on four nodes: n3 killed with its disk wiped, then the map without it; against K = 1, n3 leaving."""
    out: dict[str, float] = {}
    # the baseline: K = 1, the same node leaves by a planned rebalance (maintenance), its share moves
    nodes = cluster(root, "base", 4, 1)
    try:
        asyncio.run(nodeprocs.upload([n.url for n in nodes], "bench", OBJECTS, SIZE))
        start = time.perf_counter()
        push(nodes, a_map(nodes, 2, 1, {nodes[3].id: [NodeFlag.maintenance]}))
        wait_done(nodes, "g2")
        took = time.perf_counter() - start
        _, size = _received(nodes)
        out["planned_s"], out["planned_rate"] = took, size / took
    finally:
        nodeprocs.stop(nodes)
    nodes = cluster(root, "lost", 4, 2)
    started = list(nodes)
    try:
        asyncio.run(nodeprocs.upload([n.url for n in nodes], "bench", OBJECTS, SIZE))
        lost, rest = nodes[3], nodes[:3]
        placement = maps.Placement(a_map(nodes, 1, 2))
        out["loss_min"] = sum(
            1 for i in range(OBJECTS) if lost.id in {h.id for h in placement.holders("bench", f"o{i:06d}")}
        )
        lost.proc.send_signal(signal.SIGKILL)
        lost.proc.wait(10)
        shutil.rmtree(root / "lost" / lost.id / "mp0")
        start = time.perf_counter()
        push(rest, a_map(rest, 2, 2))
        wait_done(rest, "g2")
        took = time.perf_counter() - start
        objects, size = _received(rest)
        out["rebuild_s"], out["rebuild_rate"], out["loss_moved"] = took, size / took, objects
        # a fourth node joins the three (K = 2): the copies it takes against the HRW minimum
        joiner = start_node(root / "lost", "join4", 4)
        started.append(joiner)
        nodes = [*rest, joiner]
        before, after = maps.Placement(a_map(rest, 1, 2)), maps.Placement(a_map(nodes, 1, 2))
        out["join_min"] = sum(
            1
            for i in range(OBJECTS)
            if {h.id for h in after.holders("bench", f"o{i:06d}")}
            != {h.id for h in before.holders("bench", f"o{i:06d}")}
        )
        push(nodes, a_map(nodes, 3, 2))
        wait_done(nodes, "g3")
        out["join_moved"], _ = _received(nodes)  # the nodes' counts are of the running rebalance, g3
        return out
    finally:
        nodeprocs.stop(started)


def main() -> None:
    """Run the measurements and write the report."""
    root = Path(tempfile.mkdtemp(prefix="ferry-bench-red-"))
    try:
        dp = {}
        for k in (1, 2, 3):
            print(f"data path, K = {k} ...", flush=True)
            dp[k] = data_path(root, k)
            print(f"  {dp[k]}", flush=True)
        print("rebuild and join ...", flush=True)
        rb = rebuild(root)
        print(f"  {rb}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    for key, what, unit, scale in (
        ("put4k", "4 KiB PUT, 8 connections", "req/s", 1.0),
        ("get4k", "4 KiB GET, 8 connections", "req/s", 1.0),
        ("put1m", "1 MiB PUT, 4 connections", "MiB/s", 1 / MiB),
        ("get1m", "1 MiB GET, 4 connections", "MiB/s", 1 / MiB),
    ):
        base = dp[1][key]
        cells = " | ".join(f"{dp[k][key] * scale:.0f} ({dp[k][key] / base:.2f}x)" for k in (1, 2, 3))
        rows.append(f"| {what} ({unit}) | {cells} |")
    lines = [
        "# Redundancy benchmark",
        "",
        f"Generated by `bench/redundancy_bench.py` on {time.strftime('%Y-%m-%d %H:%M %Z')}. Machine: {machine()}",
        "",
        "## Data path with K copies",
        "",
        "Three node processes; each request goes to the next node in turn (redirects followed), as a client",
        "behind a Service would send it. A PUT is acknowledged once all K copies are on disk. Ratios are to K = 1",
        f"in the same run; {SECONDS:.0f} s a measurement.",
        "",
        "| measurement | K = 1 | K = 2 | K = 3 |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "## Rebuilding a lost node (K = 2)",
        "",
        f"Four nodes, {OBJECTS} objects of {SIZE >> 10} KiB. One node is killed (SIGKILL) and its mountpath",
        "deleted; the map without it starts the rebuild. Baseline: the same data with K = 1 and the same node",
        "leaving by a planned rebalance (maintenance), which moves its share once.",
        "",
        "| measurement | result | baseline | ratio |",
        "|---|---:|---:|---:|",
        f"| time to K copies of everything | {rb['rebuild_s']:.1f} s | planned departure {rb['planned_s']:.1f} s | "
        f"{rb['rebuild_s'] / rb['planned_s']:.2f}x |",
        f"| rebuild throughput | {rb['rebuild_rate'] / MiB:.1f} MiB/s | {rb['planned_rate'] / MiB:.1f} MiB/s | "
        f"{rb['rebuild_rate'] / rb['planned_rate']:.2f}x |",
        "",
        "## Copies moved (K = 2)",
        "",
        "| event | copies moved | HRW minimum | ratio |",
        "|---|---:|---:|---:|",
        f"| a node lost (one new copy of each object it held) | {rb['loss_moved']:.0f} | {rb['loss_min']:.0f} | "
        f"{rb['loss_moved'] / rb['loss_min']:.2f} |",
        f"| a node joins three (the copies it takes) | {rb['join_moved']:.0f} | {rb['join_min']:.0f} | "
        f"{rb['join_moved'] / rb['join_min']:.2f} |",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
