"""Locates the cached control-plane binaries, building them once per machine with ``hack/kube/build.sh``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "kube" / "build.sh"
NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "helm",
    "kubelet",
    "kube-proxy",
    "coredns",
    "pause",
)


class MissingBinaries(RuntimeError):
    """The control-plane binaries are not built and cannot be built here."""


def ensure() -> Path:
    """Return the bin dir holding every binary, running the (cached, idempotent) build script.

    ``FERRY_KUBE_BIN`` overrides the location; it must then hold every binary.
    The build script shows its progress on stderr and prints the bin dir last on stdout.
    """
    override = os.environ.get("FERRY_KUBE_BIN")
    if override:
        return _checked(Path(override))
    if not BUILD_SCRIPT.exists():
        raise MissingBinaries(f"{BUILD_SCRIPT} is missing; cannot locate the control-plane binaries")
    proc = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise MissingBinaries(f"{BUILD_SCRIPT} failed (exit {proc.returncode}); see its messages above")
    return _checked(Path(lines[-1]))


def _checked(bin_dir: Path) -> Path:
    missing = [n for n in NAMES if not os.access(bin_dir / n, os.X_OK)]
    if missing:
        raise MissingBinaries(
            f"{bin_dir} lacks {', '.join(missing)}; run hack/kube/build.sh (needs Go and the module proxy)"
        )
    return bin_dir
