"""A Ferry node's ASGI app for Granian (`granian --interface asgi granian_node:app`), arguments from FERRY_NODE_ARGS."""

from __future__ import annotations

import logging
import os
import shlex

from storage_node import objects_asgi
from storage_node.app import create_app
from storage_node.config import from_args

ARGS_VARIABLE = "FERRY_NODE_ARGS"  # the node's command-line arguments, as `python -m storage_node` takes them


def build(argv: list[str]) -> objects_asgi.Objects:
    """The node's app from its arguments, with the logging `python -m storage_node` sets up (Granian runs lifespan)."""
    cfg, level = from_args(argv)
    # Granian configures its own loggers only: the root logger is the node's, as `python -m storage_node` sets it
    logging.basicConfig(level=level.upper(), format=f"%(asctime)s {cfg.node_id} %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    return create_app(cfg)


app = build(shlex.split(os.environ.get(ARGS_VARIABLE, "")))
