"""Entry point: ``python -m localkube.runner --root <state dir> [--nodes N]``."""

import argparse
import asyncio
import logging
from pathlib import Path

from localkube.runner import service

parser = argparse.ArgumentParser(prog="python -m localkube.runner", description="the localkube pod runner")
parser.add_argument("--root", type=Path, required=True, help="the cluster's state dir")
parser.add_argument("--nodes", type=int, default=1, help="how many local Nodes to register")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
for noisy in ("httpx", "httpx2"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
asyncio.run(service.run(args.root.resolve(), args.nodes))
