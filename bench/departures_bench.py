"""Departures benchmark: three nodes decommissioned together against one after another (time, data moved).

On the real local node (localkube: kubelet, containerd, the chart's operator in a pod), two StorageClusters of
five nodes with the same objects; in one, node-1..3 are decommissioned one after another (each waits for the
previous one: three map versions, three global rebalances), in the other with one `kubectl apply` (one map
version, one rebalance). Reported: wall time from the request to the last node decommissioned, rebalances
run, and bytes the rebalances sent (their records' totals). Writes docs/benchmarks/departures.md.
  FERRY_BENCH_DEP_OBJECTS (default 240) objects of 256 KiB; FERRY_BENCH_DEP_REPS (default 1) runs per mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hostinfo
from localkube import binaries
from localkube.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.operator.conftest import install_operator  # noqa: E402 - needs the repo root on sys.path
from tests.e2e.operator.ferry_e2e import Ferry, node_manifest, wait_until  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "departures.md"
OBJECTS = int(os.environ.get("FERRY_BENCH_DEP_OBJECTS", "240"))
REPS = int(os.environ.get("FERRY_BENCH_DEP_REPS", "1"))
NODES = [f"node-{i}" for i in range(1, 6)]
LEAVING = ["node-1", "node-2", "node-3"]
MiB = 1 << 20


@dataclass
class Run:
    """One mode's figures."""

    mode: str
    seconds: float
    rebalances: int
    bytes_sent: int


def _last(ferry: Ferry) -> dict[str, Any]:
    return dict(ferry.cluster_status().get("lastRebalance") or {})


def _decommissioned(ferry: Ferry, names: list[str]) -> bool:
    return all(ferry.status(n).get("state") == "decommissioned" for n in names)


def one(kube: Cluster, mode: str, rep: int) -> Run:
    """Five nodes, the objects, three departures (`mode`: sequential or batched); the figures."""
    ferry = Ferry(kube.kubectl, namespace=f"ferry-e2e-bench-{mode}-{rep}")
    ferry.create(NODES)
    ds = ferry.write(OBJECTS, sizes=(262_144,))
    records: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    if mode == "sequential":
        for n in LEAVING:
            ferry.patch_state(n, "decommissioned")
            wait_until(f"{n} decommissioned", lambda n=n: _decommissioned(ferry, [n]), timeout=600)  # type: ignore[misc]
            last = _last(ferry)
            records[str(last.get("id"))] = last
    else:
        ferry.apply(*(node_manifest(n, ferry.cluster, state="decommissioned") for n in LEAVING))
        wait_until("the three decommissioned", lambda: _decommissioned(ferry, LEAVING), timeout=600)
        last = _last(ferry)
        records[str(last.get("id"))] = last
    took = time.monotonic() - start
    ferry.verify(ds)
    ferry.kubectl("delete", "namespace", ferry.namespace, "--wait=false", check=False)
    sent = sum(int(r.get("bytesSent") or 0) for r in records.values())
    return Run(mode, took, len(records), sent)


def report(runs: list[Run]) -> str:
    """The markdown report."""
    by = {m: [r for r in runs if r.mode == m] for m in ("sequential", "batched")}

    def avg(mode: str, attr: str) -> float:
        xs = [float(getattr(r, attr)) for r in by[mode]]
        return sum(xs) / len(xs)

    lines = [
        "# Departures: three nodes leaving together",
        "",
        f"Real local node (localkube), the chart's operator in a pod; five storage nodes holding {OBJECTS} objects of",
        f"256 KiB ({OBJECTS * 262_144 / MiB:.0f} MiB); node-1..3 decommissioned one after another (each waits for the",
        "previous) or with one `kubectl apply` (one map version, one global rebalance). Time from the first request",
        f"to the last node decommissioned; bytes the rebalances sent (their records' totals). {REPS} run(s) per mode,",
        "both modes in the same run of this script.",
        "",
        "| mode | time (s) | rebalances | data moved (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("sequential", "batched"):
        lines.append(
            f"| {mode} | {avg(mode, 'seconds'):.1f} | {avg(mode, 'rebalances'):.0f} | "
            f"{avg(mode, 'bytes_sent') / MiB:.1f} |"
        )
    seq_t, bat_t = avg("sequential", "seconds"), avg("batched", "seconds")
    seq_b, bat_b = avg("sequential", "bytes_sent"), avg("batched", "bytes_sent")
    lines += [
        "",
        f"Batched against sequential: time x{bat_t / seq_t:.2f}, data moved x{(bat_b / seq_b) if seq_b else 0:.2f}.",
        "",
        f"Machine: {os.cpu_count()} x {hostinfo.cpu_model()}, {hostinfo.memory_gib():.0f} GiB.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run both modes on one local cluster and write the report."""
    root = Path(tempfile.mkdtemp(prefix="ferry-bench-dep-"))
    kube = Cluster(root)
    try:
        kube.up(bin_dir=binaries.ensure())
        kube.kubectl("apply", "-f", str(REPO / "crds"))
        kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        install_operator(kube, root)
        runs = []
        for rep in range(REPS):
            for mode in ("sequential", "batched") if rep % 2 == 0 else ("batched", "sequential"):
                runs.append(one(kube, mode, rep))
                print(runs[-1], flush=True)
        OUT.write_text(report(runs))
        print(f"wrote {OUT}")
        return 0
    finally:
        kube.down()
        subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    sys.exit(main())
