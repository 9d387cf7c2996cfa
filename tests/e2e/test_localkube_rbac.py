"""RBAC with a non-admin user minted by the launcher: refused (403) unless a binding allows it."""

from __future__ import annotations

import json
import time

import pytest
from localkube.cluster import Cluster

pytestmark = pytest.mark.e2e


def test_non_admin_user_is_refused_unless_a_role_allows_it(kube: Cluster, namespace: str) -> None:
    user = f"alice-{namespace}"
    kube.mint_user(user, groups=["ferry-testers"])
    refused = kube.kubectl("get", "pods", "-n", namespace, user=user, check=False)
    assert refused.returncode != 0 and "(Forbidden)" in refused.stderr

    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "alice-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    kube.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}), namespace=namespace)
    deadline = time.monotonic() + 30
    while kube.kubectl("get", "pods", "-n", namespace, user=user, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the RoleBinding never took effect"
        time.sleep(0.2)

    for args in (["get", "secrets", "-n", namespace], ["get", "pods", "-n", "default"],
                 ["delete", "pod", "any-pod", "-n", namespace]):  # fmt: skip
        result = kube.kubectl(*args, user=user, check=False)
        assert result.returncode != 0 and "(Forbidden)" in result.stderr, args
    can = kube.kubectl("auth", "can-i", "list", "pods", "-n", namespace, user=user, check=False)
    assert can.stdout.strip() == "yes"
