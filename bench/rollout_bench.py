"""Rolling-upgrade benchmark: time, data moved and failed client requests of a 3-node rollout, per strategy.

On the real node (localkube), with the operator run as `kopf run -m storage_operator` on this machine: for
each strategy a fresh 3-node StorageCluster, FERRY_BENCH_ROLL_OBJECTS objects of 256 KiB, client threads
(`tests.workload`, any request to any node pod the API shows, nothing retried), then one change of the pod spec (a new
environment variable: a new pod revision, as a new image would be) and a wait until every node runs it.
Writes docs/benchmarks/rollout.md.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hostinfo
from localkube import binaries, processes
from localkube.cluster import Cluster
from operator_bench import NS_PREFIX, Operator, destroy_cluster
from storage_node.schemas import rebalance_number

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.operator.ferry_e2e import Ferry, wait_until  # noqa: E402 - needs the repo root on sys.path
from tests.e2e.operator.test_operator_interruptions import clients  # noqa: E402
from tests.e2e.operator.test_operator_rolling_upgrades import (  # noqa: E402
    NODES,
    failure_windows,
    patch_cluster,
    rolled_out,
    watching,
)

OUT = REPO / "docs" / "benchmarks" / "rollout.md"
OBJECTS = int(os.environ.get("FERRY_BENCH_ROLL_OBJECTS", "240"))  # x 256 KiB
STRATEGIES = ("restart", "drain")
MiB = 1 << 20


def one(kube: Cluster, strategy: str) -> dict[str, Any]:
    """One rollout with `strategy` on a fresh cluster under client load; its figures."""
    ferry = Ferry(kube.kubectl, namespace=f"{NS_PREFIX}rollout-{strategy}")
    ferry.create(NODES, cluster_spec={"upgrade": {"strategy": strategy}})
    ds = ferry.write(OBJECTS, sizes=(262_144,))
    first = rebalance_number(ferry.cluster_map().rebalance_id)
    try:
        with clients(ferry, ds) as (load, windows), watching(ferry) as w:
            time.sleep(2.0)
            start = time.monotonic()
            patch_cluster(ferry, {"env": [{"name": "FERRY_BENCH_ROLLOUT", "value": strategy}]})
            wait_until("the rollout", lambda: rolled_out(ferry), timeout=1800, interval=0.5)
            took = time.monotonic() - start
            windows.append((start, time.monotonic()))
            time.sleep(1.0)
        ferry.verify(ds)
        kinds: dict[str, int] = {}
        for f in load.failures:
            kinds[f"{f.op} {f.status or 'no connection'}"] = kinds.get(f"{f.op} {f.status or 'no connection'}", 0) + 1
        return {
            "strategy": strategy,
            "seconds": took,
            "requests": load.overlapping(windows),
            "failed": len(load.failures),
            "gone": load.gone_by_class(),
            "kinds": kinds,
            "windows": [(e - s, n) for s, e, n in failure_windows(load.failures)],
            "rebalances": rebalance_number(ferry.cluster_map().rebalance_id) - first,
            "moved": sum(w.moved.values()),  # bytes sent, summed over the rebalances the watcher saw
            "order": list(w.rolled),
        }
    finally:
        destroy_cluster(ferry)


def report(rows: list[dict[str, Any]], started: str, wall: float) -> str:
    """The markdown report."""
    data = OBJECTS * 262_144
    lines = [
        "# Rolling upgrades (`bench/rollout_bench.py`)",
        "",
        f"Run {started} on {hostinfo.cpu_model()} ({os.cpu_count()} vCPU, shared), {wall / 60:.0f} min in all. A fresh",
        f"3-node StorageCluster on the real node (localkube: kubelet, containerd) per strategy, {OBJECTS} objects of",
        f"256 KiB ({data / MiB:.0f} MiB, ~{data / MiB / 3:.0f} MiB per node), 3 client threads sending any request to",
        "any node pod the API shows Ready and not being deleted, read every 0.5 s (`tests/e2e/operator/loads.py`;",
        "nothing retried; every failure counted; a request to a pod already gone, by the next read of the list, is",
        "counted apart by exception class), then one pod-spec change (an environment variable: a new revision, as",
        "a new image is) and a wait until every node runs it and the cluster is Ready.",
        "",
        "| strategy | rollout time | requests during it | failed | failures by kind | failure windows (s, count) "
        "| to a pod already gone | rebalances | data moved |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r["kinds"].items())) or "—"
        wins = ", ".join(f"{s:.1f} s ({n})" for s, n in r["windows"]) or "—"
        gone = ", ".join(f"{k}: {v}" for k, v in sorted(r["gone"].items())) or "—"
        lines.append(
            f"| `{r['strategy']}` | {r['seconds']:.0f} s | {r['requests']} | {r['failed']} | {kinds} | {wins} "
            f"| {gone} | {r['rebalances']} | {r['moved'] / MiB:.1f} MiB |"
        )
    lines += [
        "",
        "`restart` re-creates each pod on its volume: no data moves, and the node's objects are unreadable while",
        "it restarts (a failure window per node). `drain` moves each node's data off before its pod is re-created",
        "and back after (two rebalances a node: the data moves twice), so its time grows with the data held.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run both strategies and write the report."""
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ferry-rollbench-"))
    kube = Cluster(root / "kube")
    op: Operator | None = None
    rows = []
    try:
        print("local cluster ...", flush=True)
        kube.up(bin_dir=binaries.ensure())
        kube.kubectl("apply", "-f", str(REPO / "crds"))
        kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        op = Operator({**kube.env, processes.MARKER: str(kube.root)}, root / "operator.log")
        op.start()
        for strategy in STRATEGIES:
            print(f"rollout with {strategy} ...", flush=True)
            rows.append(one(kube, strategy))
            print(rows[-1], flush=True)
    finally:
        if op is not None:
            op.stop()
            shutil.copy(root / "operator.log", Path(tempfile.gettempdir()) / "ferry-rollbench-operator.log")
        kube.down()
        left = kube.leftovers()
        shutil.rmtree(root, ignore_errors=True)
    if left:
        raise RuntimeError(f"processes of the bench cluster still alive: {left}")
    OUT.write_text(report(rows, started, time.monotonic() - t0))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
