"""Node configuration from the command line and FERRY_* environment variables."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from storage_node.limits import Limits
from storage_node.schemas import Settings

_LIMITS = Limits()
# (flag, variable, Limits field, type, lowest, highest, help): the limits of `storage_node.limits`
_LIMIT_OPTIONS: tuple[tuple[str, str, str, type, float, float, str], ...] = (
    ("--header-timeout", "FERRY_HEADER_TIMEOUT", "header_timeout_s", float, 0.1, 3600,
     "seconds a request's headers (and a new connection's first request) may take to arrive"),
    ("--body-timeout", "FERRY_BODY_TIMEOUT", "body_timeout_s", float, 0.1, 3600,
     "seconds a request body may pause between two pieces; then 408 and the connection is closed"),
    ("--max-connections", "FERRY_MAX_CONNECTIONS", "max_connections", int, 16, 1_000_000,
     "connections open at once; one more closes the one idle longest"),
    ("--max-json-body", "FERRY_MAX_JSON_BODY", "max_json_body", int, 1024, 1 << 30,
     "bytes of an admin or intra-cluster JSON body; 413 beyond"),
    ("--keep-alive", "FERRY_KEEP_ALIVE", "keep_alive_s", float, 1, 3600,
     "seconds an idle kept-alive connection stays open"),
)  # fmt: skip


@dataclass(frozen=True)
class Config:
    """Everything a node needs to start."""

    node_id: str
    host: str
    port: int
    mountpaths: list[str]
    state_dir: Path
    auth_secret: str | None
    settings: Settings
    bundle_port: int = 0  # raw rebalance-bundle listener on `host`: 0 = any free port, -1 = none
    limits: Limits = field(default_factory=Limits)


def _env_bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def parser() -> argparse.ArgumentParser:
    """The argument parser (every option falls back to its FERRY_* environment variable)."""
    p = argparse.ArgumentParser(
        prog="python -m storage_node",
        description="Ferry storage node: stores objects on mountpaths, serves the data and admin APIs, "
        "rebalances on cluster-map changes.",
    )
    p.add_argument("--node-id", help="unique node id (env FERRY_NODE_ID)")
    p.add_argument("--listen", help="HOST:PORT to listen on (env FERRY_LISTEN, default 127.0.0.1:8080)")
    p.add_argument(
        "--mountpath",
        action="append",
        default=None,
        help="directory holding objects; repeat for several (env FERRY_MOUNTPATHS, comma/colon separated)",
    )
    p.add_argument("--state-dir", help="directory for the cluster map, markers, tombstones (env FERRY_STATE_DIR)")
    p.add_argument(
        "--auth-secret-file",
        help="file holding the JWT HS256 secret for admin/intra-cluster calls "
        "(env FERRY_AUTH_SECRET_FILE, or the secret itself in FERRY_AUTH_SECRET); none = auth disabled",
    )
    p.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fsync every write for power-loss durability (env FERRY_FSYNC, default off; "
        "acknowledged writes always survive a process kill)",
    )
    p.add_argument(
        "--rebalance-concurrency",
        type=int,
        help="parallel rebalance streams (env FERRY_REBALANCE_CONCURRENCY, default 4)",
    )
    p.add_argument(
        "--rebalance-bandwidth",
        type=int,
        help="rebalance send limit in bytes/s, 0 = unlimited (env FERRY_REBALANCE_BANDWIDTH, default 0)",
    )
    p.add_argument(
        "--peer-wait",
        type=float,
        help="seconds a request waits for a node that may hold its object and does not answer (a pod "
        "restarting) before it answers 503 with Retry-After (env FERRY_PEER_WAIT, default 20)",
    )
    p.add_argument(
        "--bundle-port",
        type=int,
        help="port of the raw rebalance-bundle listener on the --listen host; 0 = any free port (announced to "
        "peers at /v1/internal/rebalance/endpoint), -1 = none, peers then use HTTP (env FERRY_BUNDLE_PORT, default 0)",
    )
    for flag, var, attr, kind, _, _, text in _LIMIT_OPTIONS:
        p.add_argument(flag, type=kind, help=f"{text} (env {var}, default {getattr(_LIMITS, attr)})")
    p.add_argument("--log-level", default=os.environ.get("FERRY_LOG_LEVEL", "info"), help="log level")
    return p


def field_name(flag: str) -> str:
    """The attribute argparse gives an option ("--max-connections" -> "max_connections")."""
    return flag.lstrip("-").replace("-", "_")


def _fail(p: argparse.ArgumentParser, message: str) -> NoReturn:
    p.error(message)


def from_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[Config, str]:
    """Parse argv and env into a Config and the log level; exits with usage on errors."""
    env = os.environ if env is None else env
    p = parser()
    a = p.parse_args(argv)
    node_id = a.node_id or env.get("FERRY_NODE_ID")
    listen = a.listen or env.get("FERRY_LISTEN") or "127.0.0.1:8080"
    mountpaths = a.mountpath or [m for m in re.split(r"[,:]", env.get("FERRY_MOUNTPATHS", "")) if m]
    state_dir = a.state_dir or env.get("FERRY_STATE_DIR")
    if not node_id:
        _fail(p, "--node-id (or FERRY_NODE_ID) is required")
    if not mountpaths:
        _fail(p, "at least one --mountpath (or FERRY_MOUNTPATHS) is required")
    if not state_dir:
        _fail(p, "--state-dir (or FERRY_STATE_DIR) is required")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        _fail(p, f"--listen must be HOST:PORT, got {listen!r}")
    secret_file = a.auth_secret_file or env.get("FERRY_AUTH_SECRET_FILE")
    secret = Path(secret_file).read_text().strip() if secret_file else (env.get("FERRY_AUTH_SECRET") or None)
    defaults = Settings()
    fsync = a.fsync if a.fsync is not None else _env_bool(env.get("FERRY_FSYNC"))
    conc = a.rebalance_concurrency or int(env.get("FERRY_REBALANCE_CONCURRENCY", defaults.rebalance_concurrency))
    bw = a.rebalance_bandwidth
    if bw is None:
        bw = int(env.get("FERRY_REBALANCE_BANDWIDTH", defaults.rebalance_bandwidth))
    try:
        wait = a.peer_wait if a.peer_wait is not None else float(env.get("FERRY_PEER_WAIT", defaults.peer_wait_seconds))
    except ValueError:
        _fail(p, f"FERRY_PEER_WAIT must be a number of seconds, got {env.get('FERRY_PEER_WAIT')!r}")
    if not 0 <= wait <= 300:
        _fail(p, f"--peer-wait must be 0..300 seconds, got {wait}")
    bundle_port = a.bundle_port if a.bundle_port is not None else int(env.get("FERRY_BUNDLE_PORT") or 0)
    if not -1 <= bundle_port < 65536:
        _fail(p, f"--bundle-port must be -1..65535, got {bundle_port}")
    limits: dict[str, float] = {}
    for flag, var, attr, kind, lo, hi, _ in _LIMIT_OPTIONS:
        value = getattr(a, field_name(flag))
        try:
            value = kind(env[var]) if value is None and env.get(var) else value
        except ValueError:
            _fail(p, f"{var} must be a number, got {env.get(var)!r}")
        if value is not None:
            if not lo <= value <= hi:
                _fail(p, f"{flag} must be {lo}..{hi}, got {value}")
            limits[attr] = value
    settings = Settings(rebalance_concurrency=conc, rebalance_bandwidth=bw, fsync=bool(fsync), peer_wait_seconds=wait)
    cfg = Config(
        node_id=str(node_id),
        host=host.strip("[]"),
        port=int(port),
        mountpaths=[str(Path(m).resolve()) for m in mountpaths],
        state_dir=Path(str(state_dir)).resolve(),
        auth_secret=secret,
        settings=settings,
        bundle_port=bundle_port,
        limits=Limits(**limits),  # type: ignore[arg-type]
    )
    return cfg, str(a.log_level)
