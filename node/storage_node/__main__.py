"""Entry point: ``python -m storage_node --help``."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from storage_node import serving
from storage_node.app import create_app
from storage_node.config import from_args


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    """Parse the configuration and serve until SIGTERM/SIGINT."""
    cfg, level = from_args()
    logging.basicConfig(level=level.upper(), format=f"%(asctime)s {cfg.node_id} %(name)s %(levelname)s %(message)s")
    # httpx logs every request to a peer at INFO (probes twice a second, look-ups): only its warnings
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if cfg.auth_secret is None:
        logging.getLogger("storage_node").warning(
            "no auth secret configured (FERRY_AUTH_SECRET[_FILE] / --auth-secret-file): admin API is open"
        )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: make that final re-raise exit 0.
    signal.signal(signal.SIGTERM, _exit_zero)
    serving.serve(create_app(cfg), host=cfg.host, port=cfg.port, limits=cfg.limits, log_level=level.lower())


if __name__ == "__main__":
    main()
