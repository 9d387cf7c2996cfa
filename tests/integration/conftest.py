"""Integration fixtures: real `python -m storage_node` processes on 127.0.0.0/8, always killed at the end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.harness import Cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def tmpfs(cluster: Cluster) -> Iterator[Callable[[Path, str], Path]]:
    """Mount a small tmpfs (a filesystem that fills up) at a directory: ``tmpfs(path, "4m")``.

    Needs root. At teardown, always, even after a failure: the cluster's processes stop first (a busy
    filesystem cannot be unmounted), then every tmpfs mounted here is unmounted.
    """
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    try:
        yield mount
    finally:
        cluster.stop_all()
        for path in reversed(mounted):
            if subprocess.run(["umount", str(path)], check=False).returncode != 0:
                subprocess.run(["umount", "--lazy", str(path)], check=True)
