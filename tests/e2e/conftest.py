"""End-to-end fixtures: a real local Kubernetes (control plane and one real node) for the test session.

Fixture ``kube`` (session scope) — a :class:`localkube.cluster.Cluster` in a fresh temporary state dir,
started from the cached binaries (``hack/kube/build.sh``), with the CRDs of ``crds/*.yaml`` installed and
Established. On a real node it checks, before any Service of ours exists, that the unreachable routes of the
pod and Service ranges are in place. It is stopped at the end of the session, and the session fails if any
process it started (control plane, node agents, pods) is still alive, or if the host's routes, links,
iptables chains or mounts differ from before. Its stable interface:

- ``kube.kubeconfig`` — ``Path`` of the admin kubeconfig (user ``ferry-admin``, group ``system:masters``)
- ``kube.env`` — ``dict``: ``os.environ`` + ``KUBECONFIG`` + the bin dir first on ``PATH`` (for subprocesses)
- ``kube.kubectl(*args, user=None, check=True, input=None, timeout=120)`` -> ``CompletedProcess[str]``;
  ``user`` is a name passed to ``mint_user`` before
- ``kube.apply(manifest_yaml, namespace=None)``; ``kube.get_json(*args, user=None)`` -> parsed JSON
- ``kube.mint_user(name, groups=())`` -> ``Path`` of a kubeconfig for that (non-admin) user
- ``kube.bin_dir`` (kubectl, helm, ...), ``kube.api_url``, ``kube.address`` (the API server's 10.N.0.1,
  the node's bridge address), ``kube.ranges`` (the pod and Service ranges)

The node ``local-1`` runs pods as containers (containerd, runc) from the locally built ``ferry:dev`` image,
each with its own ``status.podIP`` on the node's bridge (reachable from this machine); PVCs use the default
StorageClass ``ferry-local`` (``local`` volumes, fsGroup honoured).

With ``FERRY_E2E_KUBECONFIG`` set (``make kind-e2e``), ``kube`` is instead an
:class:`tests.e2e.external.ExternalCluster` over that kubeconfig (same interface; nothing started or stopped;
users are minted by impersonation) and the CRDs are expected to be installed already (by the chart).

Fixture ``namespace`` (function scope) — a fresh namespace name, created and deleted around the test.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from localkube import binaries
from localkube.cluster import Cluster
from localkube.node import agents, hostnet

from tests.e2e.external import ExternalCluster

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running local cluster for the whole session; everything it started is gone afterwards."""
    external = os.environ.get("FERRY_E2E_KUBECONFIG")
    if external:
        yield cast(Cluster, ExternalCluster(Path(external)))
        return
    cluster = Cluster(tmp_path_factory.mktemp("localkube"))
    host_before = hostnet.snapshot()
    try:
        cluster.up(bin_dir=binaries.ensure())
        ranges = cluster.ranges
        if ranges is not None:  # a real node: no Service of ours exists yet, and no packet can leave
            assert hostnet.routes(ranges) == list(ranges.unreachable), "unreachable routes missing"
            assert cluster.kubectl("get", "services", "-A", "-o", "name").stdout.split() == ["service/kubernetes"], (
                "a Service exists before the checks"
            )
        if any(CRDS.glob("*.yaml")):
            cluster.kubectl("apply", "-f", str(CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield cluster
    finally:
        cluster.down()
        left = cluster.leftovers()
        assert not left, f"processes of the test cluster still alive after stop: {left}"
        # `down` (= `make dev-down`) undid everything: no route, link, iptables chain or mount is left behind
        host_after = hostnet.snapshot()
        changed = {
            k: sorted(set(host_after[k]) ^ set(host_before[k])) for k in host_before if host_after[k] != host_before[k]
        }
        assert not changed, f"the host differs from before `up` (added or removed): {changed}"
        assert agents.mounts_under(cluster.root) == [], "mounts left under the state dir"


@pytest.fixture
def namespace(kube: Cluster) -> Iterator[str]:
    """A namespace of its own for one test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    deadline = time.monotonic() + 30
    while kube.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"no default ServiceAccount in namespace {name}"
        time.sleep(0.2)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)
