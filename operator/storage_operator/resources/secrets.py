"""The cluster's token-signing Secret: the key the operator's node tokens are signed with (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage_operator.model.specs import ClusterSpec
from storage_operator.resources import meta

AUTH_KEY = "secret"


def auth_secret_name(cluster: Mapping[str, Any], spec: ClusterSpec) -> str:
    """Name of the Secret holding the cluster's token-signing key (`spec.auth.secretName`, else <cluster>-auth)."""
    return spec.auth.secret_name or f"{cluster['metadata']['name']}-auth"


def auth_secret(cluster: Mapping[str, Any], spec: ClusterSpec, key: str) -> dict[str, Any]:
    """The cluster's token-signing Secret (owned by the StorageCluster)."""
    cname = cluster["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": meta.object_meta(auth_secret_name(cluster, spec), cluster, cname, None),
        "stringData": {AUTH_KEY: key},
    }
