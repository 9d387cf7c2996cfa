"""Node configuration from the command line and FERRY_* environment variables."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, CliApp, CliSettingsSource, NoDecode, SettingsConfigDict

from storage_node.limits import Limits
from storage_node.schemas import Settings

_LIMITS = Limits()
_SETTINGS = Settings()  # its fields hold the ranges of --rebalance-* and --peer-wait


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


class _Options(BaseSettings):
    """Ferry storage node: stores objects on mountpaths, serves the data and admin APIs, rebalances on map changes."""

    # Each field is a flag (--kebab-case) and a FERRY_UPPER_CASE variable; the flag wins, an empty value is unset.
    model_config = SettingsConfigDict(
        env_prefix="FERRY_",
        env_ignore_empty=True,
        allow_inf_nan=False,
        cli_prog_name="python -m storage_node",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_shortcuts={"mountpaths": "mountpath"},
        cli_show_env_vars=True,
        cli_hide_none_type=True,
    )

    node_id: str = Field(description="unique node id")
    listen: str = Field("127.0.0.1:8080", pattern=r"^.+:[0-9]+$", description="HOST:PORT to listen on")
    mountpaths: Annotated[list[str], NoDecode] = Field(
        min_length=1, description="directory holding objects; repeat for several, or separate them with , or :"
    )
    state_dir: str = Field(description="directory for the cluster map, markers, tombstones")
    auth_secret_file: str | None = Field(
        None,
        description="file holding the JWT HS256 secret for admin/intra-cluster calls (or the secret itself in "
        "FERRY_AUTH_SECRET); none = auth disabled",
    )
    fsync: bool = Field(
        _SETTINGS.fsync,
        description="fsync every write for power-loss durability (acknowledged writes always survive a process kill)",
    )
    rebalance_concurrency: int = Field(_SETTINGS.rebalance_concurrency, description="parallel rebalance streams")
    rebalance_bandwidth: int = Field(
        _SETTINGS.rebalance_bandwidth, description="rebalance send limit in bytes/s, 0 = unlimited"
    )
    peer_wait: float = Field(
        _SETTINGS.peer_wait_seconds,
        description="seconds a request waits for a node that may hold its object and does not answer (a pod "
        "restarting) before it answers 503 with Retry-After",
    )
    bundle_port: int = Field(
        0,
        ge=-1,
        le=65535,
        description="port of the raw rebalance-bundle listener on the --listen host; 0 = any free port (announced "
        "to peers at /v1/internal/rebalance/endpoint), -1 = none, peers then use HTTP",
    )
    # The limits of `storage_node.limits`.
    header_timeout: float = Field(
        _LIMITS.header_timeout_s,
        ge=0.1,
        le=3600,
        description="seconds a request's headers (and a new connection's first request) may take to arrive",
    )
    body_timeout: float = Field(
        _LIMITS.body_timeout_s,
        ge=0.1,
        le=3600,
        description="seconds a request body may pause between two pieces; then 408 and the connection is closed",
    )
    max_connections: int = Field(
        _LIMITS.max_connections,
        ge=16,
        le=1_000_000,
        description="connections open at once; one more closes the one idle longest",
    )
    max_json_body: int = Field(
        _LIMITS.max_json_body,
        ge=1024,
        le=1 << 30,
        description="bytes of an admin or intra-cluster JSON body; 413 beyond",
    )
    keep_alive: float = Field(
        _LIMITS.keep_alive_s, ge=1, le=3600, description="seconds an idle kept-alive connection stays open"
    )
    log_level: str = Field("info", description="log level")

    @field_validator("mountpaths", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [m for m in re.split(r"[,:]", value) if m] if isinstance(value, str) else value


class _Secret(BaseSettings):
    """The auth secret itself: a variable only, never a flag (a command line is visible to every process)."""

    model_config = SettingsConfigDict(env_prefix="FERRY_", env_ignore_empty=True)

    auth_secret: str | None = None


def _message(error: ErrorDetails) -> str:
    """One error of `_Options` or `Settings`, named by its flag and its variable."""
    name = {"peer_wait_seconds": "peer_wait"}.get(str(error["loc"][0]), str(error["loc"][0]))
    flag = "--mountpath" if name == "mountpaths" else f"--{name.replace('_', '-')}"
    got = "" if error["type"] == "missing" else f", got {error['input']!r}"
    return f"{flag} (or FERRY_{name.upper()}): {error['msg']}{got}"


def from_args(argv: Sequence[str] | None = None) -> tuple[Config, str]:
    """Parse argv (default: the process's) and FERRY_* variables into a Config and the log level; exits 2 on errors."""
    cli = CliSettingsSource[argparse.ArgumentParser](_Options)
    try:
        o = CliApp.run(_Options, cli_args=None if argv is None else list(argv), cli_settings_source=cli)
        settings = Settings(
            rebalance_concurrency=o.rebalance_concurrency,
            rebalance_bandwidth=o.rebalance_bandwidth,
            fsync=o.fsync,
            peer_wait_seconds=o.peer_wait,
        )
    except ValidationError as e:
        cli.root_parser.error("; ".join(_message(error) for error in e.errors()))
    host, _, port = o.listen.rpartition(":")
    cfg = Config(
        node_id=o.node_id,
        host=host.strip("[]"),
        port=int(port),
        mountpaths=[str(Path(m).resolve()) for m in o.mountpaths],
        state_dir=Path(o.state_dir).resolve(),
        auth_secret=Path(o.auth_secret_file).read_text().strip() if o.auth_secret_file else _Secret().auth_secret,
        settings=settings,
        bundle_port=o.bundle_port,
        limits=Limits(
            header_timeout_s=o.header_timeout,
            body_timeout_s=o.body_timeout,
            max_connections=o.max_connections,
            max_json_body=o.max_json_body,
            keep_alive_s=o.keep_alive,
        ),
    )
    return cfg, o.log_level
