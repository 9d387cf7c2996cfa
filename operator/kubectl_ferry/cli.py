"""The `kubectl ferry` command line: `show cluster` and `show rebalance`, once or with --watch; exit codes."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from kubectl_ferry import reading, tables, views

MIN_INTERVAL, MAX_INTERVAL = 1.0, 60.0
CLEAR = "\x1b[H\x1b[2J"


def _interval(text: str) -> float:
    value = float(text)
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be between {MIN_INTERVAL:.0f} and {MAX_INTERVAL:.0f} seconds")
    return value


def parser() -> argparse.ArgumentParser:
    """The arguments of `kubectl ferry`."""
    top = argparse.ArgumentParser(
        prog="kubectl ferry",
        description="Show Ferry storage clusters, their nodes and rebalances (read from the StorageCluster and "
        "StorageNode resources with your kubeconfig).",
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    show = verbs.add_parser("show", help="show a cluster or its rebalance")
    what = show.add_subparsers(dest="what", required=True)
    for name, text in (
        ("cluster", "per node: state, desired state, phase, address, objects, bytes, capacity, map, rebalance"),
        ("rebalance", "the current (or last) global rebalance: per node bytes sent of to send, progress and ETA"),
    ):
        cmd = what.add_parser(name, help=text, description=text)
        cmd.add_argument("name", nargs="?", help="the StorageCluster (default: every one in the namespace)")
        cmd.add_argument("-n", "--namespace", help="namespace (default: your kubeconfig context's)")
        cmd.add_argument("-A", "--all-namespaces", action="store_true", help="clusters of every namespace")
        cmd.add_argument("-w", "--watch", action="store_true", help="refresh until interrupted (Ctrl-C)")
        cmd.add_argument("--interval", type=_interval, default=2.0, help="seconds between refreshes (1-60)")
        cmd.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
        cmd.add_argument("--context", help="kubeconfig context")
    return top


def snapshot(kubectl: reading.Kubectl, args: argparse.Namespace) -> list[views.ClusterView]:
    """The clusters asked for, each with its nodes, read now."""
    every = bool(args.all_namespaces) and not args.name
    clusters = kubectl.get(reading.CLUSTERS, args.name, args.namespace, every)
    if not clusters:
        where = "any namespace" if every else f"namespace {args.namespace}" if args.namespace else "this namespace"
        raise reading.Unavailable(f"no StorageCluster in {where}")
    namespaces = {c["metadata"].get("namespace") for c in clusters}
    nodes = kubectl.get(
        reading.NODES, None, next(iter(namespaces)) if len(namespaces) == 1 else None, len(namespaces) > 1
    )
    out = []
    for c in sorted(clusters, key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"])):
        ns = c["metadata"].get("namespace")
        out.append(views.ClusterView.from_resources(c, [n for n in nodes if n["metadata"].get("namespace") == ns]))
    return out


def render(what: str, clusters: Sequence[views.ClusterView], now: datetime) -> str:
    """The text of one refresh."""
    show: Callable[[views.ClusterView], str]
    if what == "cluster":
        show = tables.cluster
    else:

        def show(view: views.ClusterView) -> str:
            return tables.rebalance(view, now)

    return "\n\n".join(show(v) for v in clusters)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Carry out a parsed command; the exit code."""
    try:
        kubectl = reading.Kubectl.find(args.kubeconfig, args.context)
    except reading.Unavailable as e:
        print(f"error: {e}", file=err)
        return 1
    if not args.watch:
        try:
            print(render(args.what, snapshot(kubectl, args), datetime.now(UTC)), file=out)
        except reading.Unavailable as e:
            print(f"error: {e}", file=err)
            return 1
        return 0
    clear = CLEAR if out.isatty() else ""
    while True:
        now = datetime.now(UTC)
        try:
            text = render(args.what, snapshot(kubectl, args), now)
        except reading.Unavailable as e:  # a watch outlives a passing failure: shown, then tried again
            text = f"error: {e}"
        stamp = f"{now:%Y-%m-%dT%H:%M:%SZ}  (every {args.interval:g}s, Ctrl-C to stop)"
        print(f"{clear}{stamp}\n{text}\n", file=out, flush=True)
        time.sleep(args.interval)


def main(argv: Sequence[str] | None = None) -> int:
    """`kubectl-ferry`: parse, run, and leave quietly on Ctrl-C or a closed pipe."""
    args = parser().parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `kubectl ferry show cluster | head` ends quietly
    try:
        return run(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130 if not args.watch else 0
