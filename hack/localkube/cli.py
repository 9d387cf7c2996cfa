"""Command line: ``python -m localkube {up,down,status,dev,mint-user,kubeconfig}``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from localkube import binaries
from localkube.cluster import Cluster

DEFAULT_ROOT = binaries.REPO / ".dev"


def _progress(message: str) -> None:
    print(f"localkube: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m localkube", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="cluster state dir (default: .dev/)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start (or reuse) the control plane and the real node")
    down = sub.add_parser("down", help="stop everything started for the cluster")
    down.add_argument("--wipe", action="store_true", help="also delete the state dir (etcd data, volumes)")
    sub.add_parser("status", help="show which processes run and whether the API server is ready")
    sub.add_parser("dev", help="up + CRDs + helm install of the operator + the demo cluster")
    mint = sub.add_parser("mint-user", help="write a kubeconfig for a non-admin user")
    mint.add_argument("name")
    mint.add_argument("--group", action="append", default=[], help="group (repeatable)")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    args = parser.parse_args(argv)
    cluster = Cluster(args.root)
    try:
        return _run(args, cluster)
    except (RuntimeError, TimeoutError) as e:
        print(f"localkube: error: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, cluster: Cluster) -> int:
    if args.command == "up":
        t0 = time.monotonic()
        cluster.up(progress=_progress)
        _progress(f"API server ready at {cluster.api_url} ({time.monotonic() - t0:.1f}s)")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
    elif args.command == "down":
        swept = cluster.down()
        if swept:
            _progress(f"swept leftover processes {swept}")
        if args.wipe:
            cluster.wipe()
        _progress("stopped")
    elif args.command == "status":
        status = cluster.status()
        print(json.dumps(status, indent=2))
        return 0 if status.get("api-ready") else 3
    elif args.command == "dev":
        from localkube.dev import run as dev_run

        return dev_run(cluster, progress=_progress)
    elif args.command == "mint-user":
        if not cluster.info():
            raise RuntimeError("the cluster was never started; run `python -m localkube up` first")
        print(cluster.mint_user(args.name, args.group))
    elif args.command == "kubeconfig":
        print(cluster.kubeconfig)
    return 0
