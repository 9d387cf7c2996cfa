"""Workload controllers: a Deployment gets a running pod; deleting it garbage-collects the pods."""

from __future__ import annotations

import json
import time

import pytest
from localkube.cluster import Cluster

pytestmark = pytest.mark.e2e

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "sleepy"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "sleepy"}},
        "template": {
            "metadata": {"labels": {"app": "sleepy"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "main",
                        "image": "ferry:dev",
                        "command": ["python", "-c", "import time; time.sleep(3600)"],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }
                ],
            },
        },
    },
}


def test_deployment_runs_a_pod_and_deleting_it_removes_the_pod(kube: Cluster, namespace: str) -> None:
    kube.apply(json.dumps(DEPLOYMENT), namespace=namespace)
    kube.kubectl("rollout", "status", "deployment/sleepy", "-n", namespace, "--timeout=90s")
    pods = kube.get_json("pods", "-n", namespace, "-l", "app=sleepy")["items"]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    owner = pods[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet"
    assert pods[0]["status"]["containerStatuses"][0]["containerID"].startswith(("containerd://", "localkube://"))

    kube.kubectl("delete", "deployment", "sleepy", "-n", namespace)  # background cascading deletion
    deadline = time.monotonic() + 60
    while kube.get_json("pods,replicasets", "-n", namespace, "-l", "app=sleepy")["items"]:
        assert time.monotonic() < deadline, "garbage collection left the ReplicaSet or its pods behind"
        time.sleep(0.5)
