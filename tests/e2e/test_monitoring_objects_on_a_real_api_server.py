"""The chart's monitoring objects are valid for the real API server with prometheus-operator's own CRDs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from localkube.cluster import Cluster

from tests.monitoring import ALL_ON, KINDS, helm_template, tools

pytestmark = pytest.mark.e2e

CRD_FILES = ("servicemonitors", "podmonitors", "prometheusrules")


@pytest.fixture
def prometheus_operator_crds(kube: Cluster) -> Iterator[None]:
    """prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs, installed and Established."""
    crds = tools() / "crds"
    paths = [str(crds / f"monitoring.coreos.com_{name}.yaml") for name in CRD_FILES]
    names = [f"{name}.monitoring.coreos.com" for name in CRD_FILES]
    before = kube.kubectl("get", "crd", *names, "--ignore-not-found", "-o", "name").stdout.split()
    args = [a for p in paths for a in ("-f", p)]
    kube.kubectl("apply", "--server-side", "--force-conflicts", *args)  # too large for client-side apply
    kube.kubectl("wait", "--for=condition=Established", *[f"crd/{n}" for n in names], "--timeout=60s")
    yield
    if not before:
        kube.kubectl("delete", "crd", *names, "--ignore-not-found", check=False)


def dry_run(kube: Cluster, manifests: list[dict[str, Any]], namespace: str, *flags: str) -> Any:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
    return kube.kubectl("apply", "--dry-run=server", *flags, "-n", namespace, "-f", "-", input=doc, check=False)


def test_monitoring_objects_pass_the_api_servers_validation(
    kube: Cluster, namespace: str, prometheus_operator_crds: None
) -> None:
    values = ["--set-json", 'operator.watchNamespaces=["team-a","team-b"]', "--set", "monitoring.labels.release=kps"]
    manifests = helm_template(kube.bin_dir / "helm", *ALL_ON, *values, namespace=namespace)
    objects = [m for m in manifests if m["kind"] in (*KINDS, "ConfigMap", "Service")]
    assert sorted(m["kind"] for m in objects) == [
        "ConfigMap",
        "PodMonitor",
        "PrometheusRule",
        "Service",
        "ServiceMonitor",
    ]
    proc = dry_run(kube, objects, namespace)
    assert proc.returncode == 0, proc.stderr
    for m in objects:
        group = m["apiVersion"].rpartition("/")[0]
        kind = m["kind"].lower() + (f".{group}" if group else "")
        assert f"{kind}/{m['metadata']['name']} created (server dry run)" in proc.stdout.splitlines(), proc.stdout

    # the server really checks them against the CRDs' schemas: a wrong field type or value is refused
    pod_monitor = next(m for m in objects if m["kind"] == "PodMonitor")
    broken = json.loads(json.dumps(pod_monitor))
    broken["spec"]["podMetricsEndpoints"][0]["interval"] = "every minute"
    broken["spec"]["namespaceSelector"]["any"] = "yes"
    proc = dry_run(kube, [broken], namespace, "--validate=false")  # no check in kubectl: the server's verdict
    assert proc.returncode != 0 and "is invalid" in proc.stderr, proc.stderr
    assert "spec.podMetricsEndpoints[0].interval" in proc.stderr and "spec.namespaceSelector.any" in proc.stderr


def test_defaults_need_no_prometheus_operator(kube: Cluster, namespace: str) -> None:
    """Without prometheus-operator's CRDs the chart's default objects are accepted; monitoring ones would not be."""
    assert kube.kubectl("get", "crd", "podmonitors.monitoring.coreos.com", check=False).returncode != 0
    manifests = helm_template(
        kube.bin_dir / "helm", "--set", "cluster.create=true", "--skip-tests", namespace=namespace
    )
    namespaced = [m for m in manifests if m["metadata"].get("namespace") == namespace]
    proc = dry_run(kube, namespaced, namespace)
    assert proc.returncode == 0, proc.stderr
    monitors = [m for m in helm_template(kube.bin_dir / "helm", *ALL_ON, namespace=namespace) if m["kind"] in KINDS]
    proc = dry_run(kube, monitors, namespace)
    # the API does not serve the kinds (said either way, depending on kubectl's discovery cache)
    assert proc.returncode != 0, proc.stdout
    assert "no matches for kind" in proc.stderr or "could not find the requested resource" in proc.stderr, proc.stderr
