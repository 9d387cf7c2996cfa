"""Failed client requests per transition kind, and the data path's small-object rates, for two node versions.

Real node processes on loopback (the integration harness). Clients send each request to any node, follow
redirects, write/overwrite/delete/read/list their own keys with bodies of 10 B to 200 KB (`tests.workload`);
the lifecycle walk (`tests.integration.walks`) publishes each map node by node with a pause, with the
rebalance throttled, and cycles maintenance, stop-maintenance, shutdown (every other time with the node
killed mid-rebalance and back 2 s later) + restart, decommission + join
until the clients made at least --requests requests. A request counts for a kind when it was in flight
during one of that kind's transitions. Run once against the node code of this checkout and once
against another checkout's `node/` (--baseline DIR, e.g. a worktree of the commit before the fix), in the
same run; writes docs/benchmarks/clients.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.harness import BUCKET, Cluster, mixed_sizes, upload  # noqa: E402
from tests.integration.walks import Walk  # noqa: E402
from tests.workload import Workload  # noqa: E402

KINDS = ("start-maintenance", "stop-maintenance", "shutdown", "killed-mid-rebalance", "restart", "decommission", "join")


def _walk_until(walk: Walk, clients: Workload, need: int, deadline: float) -> None:
    """Cycle through every transition kind until the clients made `need` requests (or the deadline passed)."""
    spare = 0
    while time.monotonic() < deadline and clients.requests < need:
        walk.start_maintenance("n1")
        walk.stop_maintenance("n1")
        if spare % 2:
            walk.shutdown_killed("n2")  # its process killed while it still holds data, back 2 s later
        else:
            walk.shutdown("n2")
        walk.restart("n2")
        walk.stop_maintenance("n2")
        leaving = walk.members[-1]
        walk.decommission(leaving)
        spare += 1
        walk.join(f"j{spare}")


def _per_kind(walk: Walk, clients: Workload) -> dict[str, tuple[int, int]]:
    """kind -> (requests in flight during it, failures during it)."""
    out = {}
    for kind in KINDS:
        windows = [(s, e) for k, s, e in walk.kinds if k == kind]
        fails = sum(1 for f in clients.failures if any(s <= f.at <= e for s, e in windows))
        out[kind] = (clients.overlapping(windows), fails)
    return out


async def _rate(urls: list[str], op: str, seconds: float, conns: int = 8) -> float:
    """Requests per second of 4 KiB PUTs or GETs through `conns` connections, any node, redirects followed."""
    data = os.urandom(4096)
    done = 0
    stop = 0.0

    async def one(i: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(follow_redirects=True, timeout=30) as http:
            k = 0
            while time.monotonic() < stop:
                url = f"{urls[(i + k) % len(urls)]}/v1/objects/{BUCKET}/rate/{i}/{k % 200}"
                r = await (http.put(url, content=data) if op == "PUT" else http.get(url))
                if r.status_code != 200:
                    raise RuntimeError(f"{op} {url}: {r.status_code}")
                done += 1
                k += 1

    if op == "GET":
        async with httpx.AsyncClient(follow_redirects=True, timeout=30) as http:
            for i in range(conns):
                for k in range(200):
                    await http.put(f"{urls[0]}/v1/objects/{BUCKET}/rate/{i}/{k}", content=data)
    t0 = time.monotonic()
    stop = t0 + seconds
    await asyncio.gather(*(one(i) for i in range(conns)))
    return done / (time.monotonic() - t0)


def run_version(label: str, node_dir: Path, need: int, throttle: int, budget: float) -> dict[str, object]:
    """One full walk with clients against the node code under `node_dir`; figures for the report."""
    os.environ["PYTHONPATH"] = str(node_dir)  # the node processes import storage_node from there
    with tempfile.TemporaryDirectory(prefix=f"ferry-clients-{label}-") as tmp:
        cluster = Cluster(Path(tmp))
        try:
            urls = cluster.form(4)
            stable = upload(urls, mixed_sizes(1500, seed=3))
            walk = Walk(cluster, throttle)
            walk.throttle_all()
            with Workload(BUCKET, walk.targets, threads=6, keys=50, stable=stable, seed=5) as clients:
                _walk_until(walk, clients, need, time.monotonic() + budget)
            return {
                "label": label,
                "requests": clients.requests,
                "failures": len(clients.failures),
                "kinds": _per_kind(walk, clients),
                "summary": clients.summary(per_kind=2),
            }
        finally:
            cluster.stop_all()


def measure_rates(versions: list[tuple[str, Path]], rounds: int = 3) -> dict[str, dict[str, list[float]]]:
    """Small PUT/GET rates of each version on a settled 4-node cluster, the versions alternating each round."""
    out: dict[str, dict[str, list[float]]] = {label: {"PUT": [], "GET": []} for label, _ in versions}
    for _ in range(rounds):
        for label, node_dir in versions:
            os.environ["PYTHONPATH"] = str(node_dir)
            with tempfile.TemporaryDirectory(prefix=f"ferry-rates-{label}-") as tmp:
                cluster = Cluster(Path(tmp))
                try:
                    urls = cluster.form(4)
                    time.sleep(1.0)
                    for op in ("PUT", "GET"):
                        out[label][op].append(asyncio.run(_rate(urls, op, 5.0)))
                finally:
                    cluster.stop_all()
    return out


def report(results: list[dict[str, object]], rates: dict[str, dict[str, list[float]]], need: int, throttle: int) -> str:
    """The markdown report."""
    lines = [
        "## Clients during transitions (`bench/clients_bench.py`)",
        "",
        "Real node processes; 6 client threads, each overwriting, deleting, reading and listing its own 50 keys",
        "(10 B to 200 KB) and reading 1,500 seeded objects, every request to a random running node, redirects",
        f"followed, nothing retried. Maps reach the nodes one by one 0.3 s apart; rebalance throttled to "
        f"{throttle >> 20} MiB/s. The walk cycles every kind until the clients made {need:,} requests;",
        "a request counts for a kind when it was in flight during one of that kind's transitions.",
        "A failure is any exception, unexpected status (404 or 503 alike) or wrong byte. Every other shutdown",
        "kills the node (-9) mid-rebalance, while it still holds data, and starts it again 2 s later (a pod the",
        "operator re-creates); clients no longer pick it, but the others must answer for what it holds.",
        "",
        "| transition kind | " + " | ".join(f"{r['label']}: failed / requests" for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for kind in KINDS:
        cells = []
        for r in results:
            req, fail = r["kinds"][kind]  # type: ignore[index]
            cells.append(f"{fail} / {req:,}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| whole walk | " + " | ".join(f"{r['failures']} / {r['requests']:,}" for r in results) + " |")
    lines += [
        "",
        "Small-object data path on a settled 4-node cluster, 8 connections, 4 KiB objects, any node, redirects",
        "followed; the versions alternate, 3 rounds of 5 s each; median (min-max) requests/s:",
        "",
        "| version | PUT/s | GET/s |",
        "|---|---|---|",
    ]
    med = {label: {op: statistics.median(v) for op, v in ops.items()} for label, ops in rates.items()}
    for label, ops in rates.items():
        cells = [f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})" for v in (ops["PUT"], ops["GET"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "before" in med and "after" in med:
        a, b = med["before"], med["after"]
        lines.append(f"| ratio after/before | {b['PUT'] / a['PUT']:.2f} | {b['GET'] / a['GET']:.2f} |")
    lines += ["", "Failures seen (kinds, first examples):", ""]
    for r in results:
        lines += [f"- {r['label']}: " + str(r["summary"]).replace("\n", "\n  ")]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run both versions, write the report."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline", type=Path, help="a checkout whose node/ is the 'before' version")
    ap.add_argument("--requests", type=int, default=20_000, help="requests per version (at least)")
    ap.add_argument("--throttle", type=int, default=20 << 20, help="rebalance bandwidth, bytes/s")
    ap.add_argument("--budget", type=float, default=1800.0, help="seconds per version at most")
    args = ap.parse_args()
    versions = [("after", ROOT / "node")]
    if args.baseline is not None:
        versions.insert(0, ("before", args.baseline / "node"))
    rates = measure_rates(versions)
    print(rates, flush=True)
    results = []
    if args.baseline is not None:
        results.append(run_version("before", args.baseline / "node", args.requests, args.throttle, args.budget))
        print(results[-1]["summary"], flush=True)
    results.append(run_version("after", ROOT / "node", args.requests, args.throttle, args.budget))
    print(results[-1]["summary"], flush=True)
    out = ROOT / "docs" / "benchmarks" / "clients.md"
    out.write_text(report(results, rates, args.requests, args.throttle))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
