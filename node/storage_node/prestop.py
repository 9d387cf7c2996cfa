"""The node pod's pre-stop step: mark the node leaving, then wait while clients and endpoints let it go.

Kubernetes runs it (``python -m storage_node.prestop --state-dir DIR --wait SECONDS``) when the pod is being
deleted, before the container gets SIGTERM. From the mark on, the node's readiness fails (``/health/ready``
answers 503 with ``leaving``) while it serves every request as before: the pod leaves the Service's endpoints
and the lists of clients that send to Ready pods, and only then stops listening. `--wait` is how long that
takes (the operator gives the readiness probe's period times its failure threshold, plus a margin).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from storage_node.statedir import LEAVING


def main(argv: list[str] | None = None) -> int:
    """Mark, wait, exit 0 (a pre-stop step that fails only delays the stop by its own failure)."""
    parser = argparse.ArgumentParser(prog="python -m storage_node.prestop", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True, help="the node's --state-dir")
    parser.add_argument("--wait", type=float, default=8.0, help="seconds to keep serving once marked (0-60)")
    args = parser.parse_args(argv)
    if not 0 <= args.wait <= 60:
        parser.error("--wait must be 0 to 60 seconds")
    (args.state_dir / LEAVING).touch()
    time.sleep(args.wait)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
