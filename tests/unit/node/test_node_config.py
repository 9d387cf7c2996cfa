"""The node's configuration: flags, their FERRY_* variables, defaults, and the errors a user sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_node.config import from_args
from storage_node.limits import Limits
from storage_node.schemas import Settings

REQUIRED = ["--node-id", "n1", "--mountpath", "/data/mp0", "--state-dir", "/data/state"]


@pytest.fixture(autouse=True)
def _no_ferry_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith("FERRY_"):
            monkeypatch.delenv(name)


def rejected(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error line a user sees for `argv`, after checking the exit code is argparse's 2."""
    with pytest.raises(SystemExit) as exited:
        from_args(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_flags_alone_give_the_defaults_of_everything_else() -> None:
    cfg, level = from_args(REQUIRED)
    assert (cfg.node_id, cfg.host, cfg.port, cfg.mountpaths, cfg.state_dir) == (
        "n1",
        "127.0.0.1",
        8080,
        ["/data/mp0"],
        Path("/data/state"),
    )
    assert (cfg.auth_secret, cfg.bundle_port, level) == (None, 0, "info")
    assert cfg.settings == Settings()
    assert cfg.limits == Limits()


def test_the_operator_pod_arguments_are_understood(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    argv = ["--node-id", "c-0", "--listen", "10.0.0.7:8080", "--state-dir", "/data/state"]
    argv += ["--mountpath", "/data/mp0", "--mountpath", "/data/mp1", "--rebalance-concurrency", "8"]
    argv += ["--rebalance-bandwidth", "1000", "--auth-secret-file", str(secret)]
    cfg, _ = from_args(argv)
    assert (cfg.host, cfg.port, cfg.mountpaths, cfg.auth_secret) == (
        "10.0.0.7",
        8080,
        ["/data/mp0", "/data/mp1"],
        "s3cret",
    )
    assert (cfg.settings.rebalance_concurrency, cfg.settings.rebalance_bandwidth) == (8, 1000)


def test_every_option_falls_back_to_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NODE_ID": "env-node",
        "LISTEN": "[::1]:9000",
        "MOUNTPATHS": "/a:/b,/c",
        "STATE_DIR": "/state",
        "AUTH_SECRET": "from-env",
        "FSYNC": "on",
        "REBALANCE_CONCURRENCY": "2",
        "REBALANCE_BANDWIDTH": "5",
        "PEER_WAIT": "1.5",
        "BUNDLE_PORT": "-1",
        "HEADER_TIMEOUT": "2",
        "BODY_TIMEOUT": "3",
        "MAX_CONNECTIONS": "16",
        "MAX_JSON_BODY": "2048",
        "KEEP_ALIVE": "4",
        "LOG_LEVEL": "debug",
    }.items():
        monkeypatch.setenv(f"FERRY_{name}", value)
    cfg, level = from_args([])
    assert (cfg.node_id, cfg.host, cfg.port, cfg.mountpaths) == ("env-node", "::1", 9000, ["/a", "/b", "/c"])
    assert (cfg.state_dir, cfg.auth_secret, cfg.bundle_port, level) == (Path("/state"), "from-env", -1, "debug")
    assert cfg.settings == Settings(rebalance_concurrency=2, rebalance_bandwidth=5, fsync=True, peer_wait_seconds=1.5)
    assert cfg.limits == Limits(
        header_timeout_s=2, body_timeout_s=3, max_connections=16, max_json_body=2048, keep_alive_s=4
    )


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_NODE_ID", "env-node")
    monkeypatch.setenv("FERRY_MOUNTPATHS", "/env")
    monkeypatch.setenv("FERRY_FSYNC", "true")
    monkeypatch.setenv("FERRY_MAX_CONNECTIONS", "20")
    cfg, _ = from_args([*REQUIRED, "--no-fsync", "--max-connections", "30"])
    assert (cfg.node_id, cfg.mountpaths, cfg.settings.fsync, cfg.limits.max_connections) == (
        "n1",
        ["/data/mp0"],
        False,
        30,
    )


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRY_FSYNC", "")
    monkeypatch.setenv("FERRY_KEEP_ALIVE", "")
    cfg, _ = from_args(REQUIRED)
    assert (cfg.settings.fsync, cfg.limits.keep_alive_s) == (False, Limits().keep_alive_s)


def test_a_file_secret_wins_over_the_secret_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-file")
    monkeypatch.setenv("FERRY_AUTH_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("FERRY_AUTH_SECRET", "from-env")
    assert from_args(REQUIRED)[0].auth_secret == "from-file"


def test_the_secret_itself_is_no_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unrecognized arguments: --auth-secret" in rejected(capsys, *REQUIRED, "--auth-secret", "x")


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (REQUIRED[2:], "--node-id (or FERRY_NODE_ID)"),
        ([*REQUIRED[:2], *REQUIRED[4:]], "--mountpath (or FERRY_MOUNTPATHS)"),
        (REQUIRED[:4], "--state-dir (or FERRY_STATE_DIR)"),
    ],
)
def test_a_missing_required_option_is_named(capsys: pytest.CaptureFixture[str], argv: list[str], missing: str) -> None:
    assert f"{missing}: Field required" in rejected(capsys, *argv)


def test_an_out_of_range_limit_names_its_flag_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    error = rejected(capsys, *REQUIRED, "--max-connections", "15")
    assert "--max-connections (or FERRY_MAX_CONNECTIONS)" in error
    assert "greater than or equal to 16" in error


def test_an_out_of_range_variable_is_rejected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERRY_HEADER_TIMEOUT", "3601")
    assert "--header-timeout (or FERRY_HEADER_TIMEOUT)" in rejected(capsys, *REQUIRED)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--peer-wait", "301"], "--peer-wait (or FERRY_PEER_WAIT)"),
        (["--rebalance-concurrency", "0"], "--rebalance-concurrency (or FERRY_REBALANCE_CONCURRENCY)"),
        (["--rebalance-bandwidth", "-1"], "--rebalance-bandwidth (or FERRY_REBALANCE_BANDWIDTH)"),
        (["--bundle-port", "65536"], "--bundle-port (or FERRY_BUNDLE_PORT)"),
        (["--body-timeout", "nan"], "--body-timeout (or FERRY_BODY_TIMEOUT)"),
        (["--listen", "8080"], "--listen (or FERRY_LISTEN)"),
        (["--listen", "host:"], "--listen (or FERRY_LISTEN)"),
    ],
)
def test_values_out_of_their_range_are_rejected(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert named in rejected(capsys, *REQUIRED, *argv)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FERRY_FSYNC", "maybe"), ("FERRY_MAX_JSON_BODY", "lots"), ("FERRY_PEER_WAIT", "soon")],
)
def test_a_variable_that_is_not_its_type_is_rejected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert f"(or {variable}): Input should be a valid" in rejected(capsys, *REQUIRED)


def test_a_flag_that_is_not_its_type_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    error = rejected(capsys, *REQUIRED, "--rebalance-concurrency", "four")
    assert "--rebalance-concurrency (or FERRY_REBALANCE_CONCURRENCY): Input should be a valid integer" in error


def test_an_unknown_flag_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unrecognized arguments: --mount-path" in rejected(capsys, *REQUIRED, "--mount-path", "/x")
