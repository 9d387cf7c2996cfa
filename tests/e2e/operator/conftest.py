"""Operator e2e fixtures: the operator installed by the chart, as a pod, as users run it.

On localkube the operator is the chart's Deployment running the locally built image in namespace
``ferry-operator-e2e`` (Pod Security "restricted"), watching ``ferry-e2e-*``; a crash is its pod's deletion
(the Deployment starts a new one). On an external cluster (``FERRY_E2E_KUBECONFIG``) it is the chart's
operator installed there.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.operator.ferry_e2e import Ferry, restricted

_namespaces = itertools.count(1)
NAMESPACE_PREFIX = "ferry-e2e-"
CHART = Path(__file__).resolve().parents[3] / "charts" / "ferry"
OPERATOR_NAMESPACE = "ferry-operator-e2e"  # outside NAMESPACE_PREFIX: the operator does not watch itself


class InClusterOperator:
    """The chart's operator on an external cluster (FERRY_E2E_KUBECONFIG): a crash is its pods' deletion."""

    def __init__(self, kube: Any, namespace: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace or os.environ.get("FERRY_E2E_OPERATOR_NAMESPACE", "ferry-system")
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


def install_operator(kube: Any, tmp: Path) -> InClusterOperator:
    """`helm install` of the chart's operator (the local image) for the e2e namespaces, as a user would."""
    kube.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    restricted(kube.kubectl, OPERATOR_NAMESPACE)
    values = {
        "image": {"repository": "ferry", "tag": "dev", "pullPolicy": "IfNotPresent"},
        "operator": {
            "peering": {"enabled": False},
            "watchNamespaces": [f"{NAMESPACE_PREFIX}*"],
            "extraEnv": [{"name": "FERRY_STALL_SECONDS", "value": "5"}],
        },
    }
    (tmp / "values.yaml").write_text(yaml.safe_dump(values))
    argv = [str(kube.bin_dir / "helm"), "install", "ferry-e2e", str(CHART), "-n", OPERATOR_NAMESPACE]
    argv += ["-f", str(tmp / "values.yaml"), "--wait", "--timeout", "3m"]
    proc = subprocess.run(argv, env=kube.env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, f"helm install of the operator failed:\n{proc.stdout}\n{proc.stderr}"
    op = InClusterOperator(kube, OPERATOR_NAMESPACE)
    op.start()
    return op


@pytest.fixture(scope="session")
def operator(kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InClusterOperator]:
    """The operator for the whole session: the chart's, a pod."""
    if os.environ.get("FERRY_E2E_KUBECONFIG"):
        yield InClusterOperator(kube)
        return
    yield install_operator(kube, tmp_path_factory.mktemp("operator"))


@pytest.fixture
def ferry(kube: Any, operator: InClusterOperator) -> Iterator[Ferry]:
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
