"""Fixtures of the static packaging tests: the pinned helm and kubectl, and chart rendering."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ferry"
Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]
Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kube_bin() -> Path:
    """The directory of the pinned control-plane binaries (built once per machine by hack/kube/build.sh)."""
    out = subprocess.run(
        [str(ROOT / "hack" / "kube" / "build.sh")], check=True, capture_output=True, text=True, timeout=3600
    )
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm(kube_bin: Path) -> Helm:
    """Run helm (no cluster needed) and return the finished process; never raises on a failing exit."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kube_bin / "helm"), *args], capture_output=True, text=True, timeout=120, check=False)

    return run


def _set_args(values: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in values.items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """`helm template` the chart with `--set-json key=value` pairs; returns the manifests (fails on error)."""

    def run(values: Mapping[str, Any] | None = None, *extra: str, release: str = "ferry") -> list[Manifest]:
        proc = helm("template", release, str(CHART), "--namespace", "storage", *_set_args(values or {}), *extra)
        assert proc.returncode == 0, proc.stderr
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    return run


@pytest.fixture(scope="session")
def render_error(helm: Helm) -> Callable[..., str]:
    """`helm template` expected to fail; returns helm's error output."""

    def run(values: Mapping[str, Any], *extra: str) -> str:
        proc = helm("template", "ferry", str(CHART), "--namespace", "storage", *_set_args(values), *extra)
        assert proc.returncode != 0, f"helm accepted {values}:\n{proc.stdout[:2000]}"
        return str(proc.stderr)

    return run
