"""Operator e2e fixtures: the operator as a real `kopf run` process against the session's local cluster."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.operator.ferry_e2e import Ferry

_namespaces = itertools.count(1)
NAMESPACE_PREFIX = "ferry-e2e-"


class OperatorProcess:
    """`kopf run -m storage_operator` as a user would run it, with kill -9 and restart for interruption tests."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the operator (standalone: one replica in the tests)."""
        self.starts += 1
        log = open(self.log_dir / f"operator-{self.starts}.log", "wb")  # noqa: SIM115 - owned by the process
        cmd = [sys.executable, "-m", "kopf", "run", "-m", "storage_operator", "--standalone"]
        cmd += ["--namespace", f"{NAMESPACE_PREFIX}*"]  # leaves other tests' namespaces to their own operator
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """kill -9 the operator, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        """Whether the operator process is up."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), then for sure."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


class InClusterOperator:
    """The chart's operator on an external cluster (FERRY_E2E_KUBECONFIG): a crash is its pods' deletion."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube
        self.namespace = os.environ.get("FERRY_E2E_OPERATOR_NAMESPACE", "ferry-system")
        self.selector = "app.kubernetes.io/component=operator"
        self.running = True

    def kill(self) -> None:
        """Delete the operator pods at once (the Deployment starts a new one)."""
        self.kube.kubectl(
            "delete", "pod", "-n", self.namespace, "-l", self.selector, "--grace-period=0", "--force", "--wait=false"
        )
        self.running = False

    def start(self) -> None:
        """Wait until the operator runs again."""
        self.kube.kubectl(
            "wait",
            "pod",
            "-n",
            self.namespace,
            "-l",
            self.selector,
            "--for=condition=Ready",
            "--timeout=180s",
            timeout=210,
        )
        self.running = True

    def stop(self) -> None:
        """Nothing to stop: the operator belongs to the cluster."""


@pytest.fixture(scope="session")
def operator(kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess | InClusterOperator]:
    """The operator for the whole session: a local `kopf run` process, or the chart's on an external cluster."""
    if os.environ.get("FERRY_E2E_KUBECONFIG"):
        yield InClusterOperator(kube)
        return
    env = {**kube.env, "FERRY_STALL_SECONDS": "5"}
    op = OperatorProcess(env, tmp_path_factory.mktemp("operator-logs"))
    op.start()
    yield op
    op.stop()


@pytest.fixture
def ferry(kube: Any, operator: OperatorProcess | InClusterOperator) -> Iterator[Ferry]:
    """A fresh namespace for one StorageCluster; removed (with everything in it) afterwards."""
    f = Ferry(kube.kubectl, namespace=f"{NAMESPACE_PREFIX}{next(_namespaces)}-{int(time.time()) % 10000}")
    yield f
    if not operator.running:
        operator.start()
    # decommission with rmUserData destroys the cluster's data; then the namespace goes
    f.kubectl(
        "patch",
        "storagecluster",
        f.cluster,
        "--type",
        "merge",
        "-p",
        '{"spec":{"state":"decommissioned","rmUserData":true}}',
        check=False,
    )
    kube.kubectl("delete", "namespace", f.namespace, "--wait=false", check=False)
